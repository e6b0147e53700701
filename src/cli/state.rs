//! `herald state`: inspect what was sent (`list`, `show`), remove a dead apply's lock record
//! (`unlock`), settle unknown deliveries (`mark-sent`, `forget`, and `reconcile` in
//! [`super::reconcile`]); and opening the project's state for the other commands.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use clap::{Args, Subcommand};

use super::{ProjectArgs, write_out};
use crate::apply::{SettleError, Settlement};
use crate::model::{Backend, Project};
use crate::state::copy::{self, CopyError};
use crate::state::postgres::PostgresStore;
use crate::state::sqlite::SqliteStore;
use crate::state::{ApplyRecord, Delivery, Locked, Store, WHOLE_CAMPAIGN};

/// The default SQLite state file, relative to the project root.
pub const DEFAULT_STATE_PATH: &str = ".herald/state.db";
/// The variable holding the PostgreSQL state's URL when `state.url_env` is not set.
pub const DEFAULT_STATE_URL_ENV: &str = "HERALD_STATE_URL";

/// `herald state`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: StateCommand,
}

/// `herald state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Every campaign in state with its deliveries counted by outcome.
    List(StateListArgs),
    /// Every attempt of a campaign's deliveries (or one recipient's), with times and outcomes.
    Show(StateShowArgs),
    /// Remove the record of a dead apply's lock (refused while its holder runs; the next
    /// apply takes a dead holder's lock over by itself).
    Unlock(StateUnlockArgs),
    /// Record unknown deliveries as sent, after checking with Engati that they were delivered.
    MarkSent(DeliveriesArgs),
    /// Record unknown deliveries as not delivered, so the next plan sends them again.
    Forget(DeliveriesArgs),
    /// Copy the whole state into an empty one, e.g. from SQLite to PostgreSQL.
    Migrate(StateMigrateArgs),
    /// Settle unknown deliveries now by what the recipients' conversation histories show.
    Reconcile(super::reconcile::ReconcileArgs),
}

/// `herald state migrate`.
#[derive(Debug, Args)]
pub struct StateMigrateArgs {
    /// The project (its `state` settings name the PostgreSQL URL variable and schema).
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The state to copy: `sqlite:PATH` (relative to the project) or `postgres[:SCHEMA]`.
    #[arg(long, value_name = "STATE")]
    pub from: String,
    /// The empty state to fill, in the same form.
    #[arg(long, value_name = "STATE")]
    pub to: String,
}

/// A campaign's deliveries, or one recipient's: what `show`, `mark-sent` and `forget` act on.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The campaign.
    #[arg(value_name = "CAMPAIGN")]
    pub campaign: String,
    /// One recipient (E.164 phone, or `*` for a broadcast); default: all of the campaign's.
    #[arg(value_name = "RECIPIENT")]
    pub recipient: Option<String>,
}

/// `herald state list`.
#[derive(Debug, Args)]
pub struct StateListArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = super::Format::Human)]
    pub format: super::Format,
}

/// `herald state show`.
#[derive(Debug, Args)]
pub struct StateShowArgs {
    /// The campaign and recipient; with a recipient, the request sent is printed too.
    #[command(flatten)]
    pub deliveries: DeliveriesArgs,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = super::Format::Human)]
    pub format: super::Format,
}

/// `herald state unlock`.
#[derive(Debug, Args)]
pub struct StateUnlockArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The lock's id, as the lock error printed it.
    #[arg(value_name = "ID")]
    pub id: String,
}

/// The project's settings, for commands that need only herald.yaml.
fn settings(project: &ProjectArgs) -> Result<(std::path::PathBuf, Project), String> {
    let checked = super::Checked::new(project)?;
    match checked.validated.catalog.settings {
        Some(s) => Ok((checked.loaded.root, s)),
        None => Err("herald.yaml has errors; run `herald validate`".to_owned()),
    }
}

/// Where a project's state is, for `--env env`.
enum Location {
    Sqlite(std::path::PathBuf),
    Postgres { url: String, schema: String },
}

fn locate(root: &Path, settings: &Project, env: Option<&str>) -> Result<Location, String> {
    let state = settings.state_for(env);
    match state.backend {
        Backend::Sqlite => Ok(Location::Sqlite(
            root.join(state.path.as_deref().unwrap_or(DEFAULT_STATE_PATH)),
        )),
        Backend::Postgres => postgres_location(settings, env, None),
    }
}

/// The PostgreSQL state of the settings (`schema` replaces theirs when given).
fn postgres_location(
    settings: &Project,
    env: Option<&str>,
    schema: Option<&str>,
) -> Result<Location, String> {
    let state = settings.state_for(env);
    let var = state.url_env.as_deref().unwrap_or(DEFAULT_STATE_URL_ENV);
    // The URL holds the database password: it is read here and never printed.
    let url = std::env::var(var).map_err(|_| {
        format!(
            "{var} is not set: it holds the URL of the PostgreSQL state\nhelp: set {var} to the \
             state database's postgres:// URL (state.url_env names the variable)"
        )
    })?;
    let schema = schema
        .or(state.schema.as_deref())
        .unwrap_or("herald")
        .to_owned();
    Ok(Location::Postgres { url, schema })
}

/// Opening a state for reading (never creates one: a project never applied has an empty
/// state) or for writing (creates and migrates it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// The project's state for reading.
pub fn open_for_reading(
    root: &Path,
    settings: &Project,
    env: Option<&str>,
) -> Result<Box<dyn Store>, String> {
    open_location(locate(root, settings, env)?, Access::Read)
}

/// The project's state for writing.
pub fn open_for_writing(
    root: &Path,
    settings: &Project,
    env: Option<&str>,
) -> Result<Box<dyn Store>, String> {
    open_location(locate(root, settings, env)?, Access::Write)
}

fn open_location(location: Location, access: Access) -> Result<Box<dyn Store>, String> {
    Ok(match (location, access) {
        (Location::Sqlite(path), Access::Read) => {
            Box::new(SqliteStore::open_read_only(&path).map_err(fail)?)
        }
        (Location::Sqlite(path), Access::Write) => {
            Box::new(SqliteStore::open(&path).map_err(fail)?)
        }
        (Location::Postgres { url, schema }, Access::Read) => {
            Box::new(PostgresStore::open_read_only(&url, &schema).map_err(fail)?)
        }
        (Location::Postgres { url, schema }, Access::Write) => {
            Box::new(PostgresStore::open(&url, &schema).map_err(fail)?)
        }
    })
}

/// Runs `herald state ...`.
pub fn state_command(args: &StateArgs, out: &mut dyn Write) -> Result<u8, String> {
    match &args.command {
        StateCommand::List(a) => list(a, out),
        StateCommand::Show(a) => show(a, out),
        StateCommand::Unlock(a) => unlock(a, out),
        StateCommand::MarkSent(a) => settle(a, Settlement::MarkSent, out),
        StateCommand::Forget(a) => settle(a, Settlement::Forget, out),
        StateCommand::Migrate(a) => migrate(a, out),
        StateCommand::Reconcile(a) => super::reconcile::reconcile_command(a, out),
    }
}

fn fail(e: crate::state::StateError) -> String {
    format!("{e}\nhelp: {}", e.help())
}

fn list(args: &StateListArgs, out: &mut dyn Write) -> Result<u8, String> {
    let (root, settings) = settings(&args.project)?;
    let store = open_for_reading(&root, &settings, args.project.env.as_deref())?;
    let campaigns = store.campaigns().map_err(fail)?;
    if args.format == super::Format::Json {
        let text = serde_json::to_string_pretty(&campaigns).unwrap_or_default();
        return write_out(out, &format!("{text}\n")).map(|()| 0);
    }
    if campaigns.is_empty() {
        write_out(
            out,
            &format!("{}: nothing has been sent yet\n", store.location()),
        )?;
        return Ok(0);
    }
    let width = campaigns
        .iter()
        .map(|c| c.campaign.chars().count())
        .max()
        .unwrap_or(0)
        .max("campaign".len());
    let mut text = format!(
        "{:width$}  {:>9}  {:>9}  {:>9}  last attempt\n",
        "campaign", "sent", "failed", "unknown"
    );
    for c in &campaigns {
        let _ = writeln!(
            text,
            "{:width$}  {:>9}  {:>9}  {:>9}  {}",
            c.campaign, c.sent, c.failed, c.unknown, c.last_at
        );
    }
    write_out(out, &text)?;
    Ok(0)
}

fn show(show: &StateShowArgs, out: &mut dyn Write) -> Result<u8, String> {
    let args = &show.deliveries;
    let (root, settings) = settings(&args.project)?;
    let store = open_for_reading(&root, &settings, args.project.env.as_deref())?;
    let history = store
        .history(&args.campaign, args.recipient.as_deref())
        .map_err(fail)?;
    if show.format == super::Format::Json {
        let text = serde_json::to_string_pretty(&history).unwrap_or_default();
        return write_out(out, &format!("{text}\n")).map(|()| 0);
    }
    if history.is_empty() {
        let whom = match &args.recipient {
            Some(r) => format!(" to {r}"),
            None => String::new(),
        };
        write_out(
            out,
            &format!(
                "no deliveries of `{}`{whom} in {}\n",
                args.campaign,
                store.location()
            ),
        )?;
        return Ok(1);
    }
    let mut text = String::new();
    for d in &history {
        let _ = writeln!(text, "{}", attempt_line(d));
    }
    if args.recipient.is_some()
        && let Some(last) = history.last()
    {
        let pretty = serde_json::from_str::<serde_json::Value>(&last.request)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| last.request.clone());
        let _ = writeln!(text, "\nlatest request:\n{pretty}");
    }
    write_out(out, &text)?;
    Ok(0)
}

/// One attempt as a line: time, recipient, outcome, API code, fingerprint, apply, detail.
fn attempt_line(d: &Delivery) -> String {
    let recipient = if d.recipient == WHOLE_CAMPAIGN {
        "(whole audience)"
    } else {
        &d.recipient
    };
    let mut line = format!(
        "{}  {recipient}  {}  fingerprint {}  apply {}",
        d.at,
        d.outcome,
        d.fingerprint.short(),
        d.apply_id
    );
    if let Some(code) = d.api_code {
        let _ = write!(line, "  code {code}");
    }
    if let Some(detail) = &d.detail {
        let _ = write!(line, "  ({detail})");
    }
    line
}

fn unlock(args: &StateUnlockArgs, out: &mut dyn Write) -> Result<u8, String> {
    let (root, settings) = settings(&args.project)?;
    let mut store = open_for_writing(&root, &settings, args.project.env.as_deref())?;
    let lock = store.current_lock().map_err(fail)?;
    store.unlock(&args.id).map_err(fail)?;
    if let Some(lock) = lock {
        write_out(
            out,
            &format!(
                "unlocked {} (held by {} since {})\n",
                lock.id, lock.holder, lock.since
            ),
        )?;
    }
    Ok(0)
}

/// Recipients named in full in a settlement's report; the rest are counted.
const NAMED: usize = 10;

fn settle(args: &DeliveriesArgs, how: Settlement, out: &mut dyn Write) -> Result<u8, String> {
    let (root, settings) = settings(&args.project)?;
    let store = open_for_writing(&root, &settings, args.project.env.as_deref())?;
    let holder = super::apply::holder();
    let mut store = Locked::take(store, &holder).map_err(fail)?;
    let id = store.id().to_owned();
    let started_at = jiff::Timestamp::now();
    let settled = crate::apply::settle(
        &mut *store,
        &args.campaign,
        args.recipient.as_deref(),
        how,
        &id,
    );
    let logged = match &settled {
        Ok(recipients) if !recipients.is_empty() => {
            let n = recipients.len() as u64;
            store.log_apply(&ApplyRecord {
                id: id.clone(),
                who: holder,
                started_at,
                finished_at: Some(jiff::Timestamp::now()),
                plan_hash: format!("herald state {}", how.name()),
                sent: if how == Settlement::MarkSent { n } else { 0 },
                failed: if how == Settlement::Forget { n } else { 0 },
                unknown: 0,
            })
        }
        _ => Ok(()),
    };
    let unlocked = store.release();
    let recipients = settled.map_err(|e| match e {
        SettleError::Known { recipient, outcome } => format!(
            "the delivery of {} to {recipient} is `{}`; only unknown deliveries are settled\nhelp: `herald state show {} {recipient}` shows its attempts",
            args.campaign,
            outcome.as_str(),
            args.campaign
        ),
        SettleError::NoDelivery { recipient } => format!(
            "state holds no delivery of {} to {recipient}\nhelp: `herald state show {}` lists the campaign's deliveries",
            args.campaign, args.campaign
        ),
        SettleError::State(e) => fail(e),
    })?;
    logged.map_err(fail)?;
    unlocked.map_err(fail)?;
    let mut text = String::new();
    if recipients.is_empty() {
        let _ = writeln!(
            text,
            "campaign {} has no unknown deliveries; nothing changed",
            args.campaign
        );
    } else {
        let them = if recipients.len() == 1 { "it" } else { "them" };
        let (verb, next) = match how {
            Settlement::MarkSent => ("marked as sent", format!("no plan will send {them} again")),
            Settlement::Forget => ("forgotten", format!("the next plan sends {them} again")),
        };
        let _ = writeln!(
            text,
            "{} unknown deliver{} of campaign {} {verb}; {next}:",
            recipients.len(),
            if recipients.len() == 1 { "y" } else { "ies" },
            args.campaign
        );
        for r in recipients.iter().take(NAMED) {
            let _ = writeln!(text, "  {r}");
        }
        if recipients.len() > NAMED {
            let _ = writeln!(text, "  and {} more", recipients.len() - NAMED);
        }
    }
    write_out(out, &text)?;
    Ok(0)
}

/// A state named on the command line: `sqlite:PATH` or `postgres[:SCHEMA]`.
fn named_location(
    spec: &str,
    root: &Path,
    settings: &Project,
    env: Option<&str>,
) -> Result<Location, String> {
    match spec.split_once(':').unwrap_or((spec, "")) {
        ("sqlite", path) if !path.is_empty() => Ok(Location::Sqlite(root.join(path))),
        ("postgres", "") => postgres_location(settings, env, None),
        ("postgres", schema) => postgres_location(settings, env, Some(schema)),
        _ => Err(format!(
            "`{spec}` does not name a state\nhelp: write `sqlite:PATH` (e.g. \
             sqlite:.herald/state.db) or `postgres` (or `postgres:SCHEMA`); the PostgreSQL URL \
             comes from the variable state.url_env names (default {DEFAULT_STATE_URL_ENV})"
        )),
    }
}

fn migrate(args: &StateMigrateArgs, out: &mut dyn Write) -> Result<u8, String> {
    let (root, settings) = settings(&args.project)?;
    let env = args.project.env.as_deref();
    let source = || named_location(&args.from, &root, &settings, env);
    // Nothing to copy is said as such (opening the source to lock it would create it).
    let probe = open_location(source()?, Access::Read)?;
    if probe.lineage().map_err(fail)?.is_none() {
        return Err(format!(
            "{} holds no state to copy\nhelp: check --from (and the state's settings)",
            probe.location()
        ));
    }
    drop(probe);
    // Both under their locks: an apply writing to the source would make the copy a mix of two
    // moments, and one writing to the target would mix two histories.
    let holder = format!("herald state migrate ({})", super::apply::holder());
    let from = open_location(source()?, Access::Write)?;
    let mut from = Locked::take(from, &holder).map_err(fail)?;
    let to = open_location(
        named_location(&args.to, &root, &settings, env)?,
        Access::Write,
    )?;
    let mut to = Locked::take(to, &holder).map_err(fail)?;
    let copied = copy::copy(&mut from, &mut to).map_err(|e| match e {
        CopyError::TargetNotEmpty { location } => format!(
            "{location} already holds state; migrate copies into an empty state only\nhelp: \
             choose an empty target (another schema or file), or remove this one if it is a \
             failed copy"
        ),
        CopyError::State(e) => fail(e),
    })?;
    write_out(
        out,
        &format!(
            "copied {} attempts and {} applies from {} to {} (serial {})\n",
            copied.attempts,
            copied.applies,
            from.location(),
            to.location(),
            copied.serial
        ),
    )?;
    Ok(0)
}
