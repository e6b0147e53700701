//! `herald state`: inspect what was sent (`list`, `show`), remove a dead apply's lock record
//! (`unlock`), settle unknown deliveries (`mark-sent`, `forget`, and `reconcile` in
//! [`super::reconcile`]); and opening the project's state for the other commands.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use clap::{Args, Subcommand};

use super::{Error, ExitStatus, Outcome, ProjectArgs, write_out};
use crate::apply::Settlement;
use crate::model::Project;
use crate::state::{Access, Location, Store, copy};

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
    /// Every campaign in state with its deliveries counted by outcome, and the test messages
    /// (`herald send`) apart.
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
    /// Let a PostgreSQL role read the state and nothing more (for review jobs).
    GrantRead(super::grant::StateGrantReadArgs),
    /// Drop the requests of settled deliveries recorded before a date, keeping who was sent
    /// what (fingerprint), when and with what outcome: plans are unchanged.
    Prune(StatePruneArgs),
    /// Remove a person's data from state (a data-protection request), keeping only keyed
    /// hashes that stop herald from messaging them again for campaigns they already got.
    Erase(StateEraseArgs),
}

/// `herald state erase`.
#[derive(Debug, Args)]
pub struct StateEraseArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The person's phone (E.164, e.g. +919019486731).
    #[arg(value_name = "PHONE")]
    pub phone: String,
    /// Say what would be erased; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = super::Format::Human)]
    pub format: super::Format,
    /// Act as if it were this RFC 3339 time (the time logged).
    #[arg(long, value_name = "TIME")]
    pub now: Option<jiff::Timestamp>,
}

/// `herald state prune`.
#[derive(Debug, Args)]
pub struct StatePruneArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Prune attempts recorded before this date (`YYYY-MM-DD`, midnight UTC) or RFC 3339
    /// time; at least 24 hours ago.
    #[arg(long, value_name = "DATE", value_parser = parse_before)]
    pub before: jiff::Timestamp,
    /// Say what would be pruned; change nothing.
    #[arg(long, conflicts_with = "vacuum")]
    pub dry_run: bool,
    /// Give the space back afterwards: SQLite rewrites its file (`VACUUM`), which only then
    /// shrinks; PostgreSQL vacuums the history table.
    #[arg(long)]
    pub vacuum: bool,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = super::Format::Human)]
    pub format: super::Format,
    /// Act as if it were this RFC 3339 time: the 24 hours are counted back from it.
    #[arg(long, value_name = "TIME")]
    pub now: Option<jiff::Timestamp>,
}

message_error! {
    /// A `--before` that is neither a date nor an RFC 3339 time.
    pub(crate) struct NotADate;
}

/// A `--before` value: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
fn parse_before(text: &str) -> Result<jiff::Timestamp, NotADate> {
    // A date alone is its midnight in UTC.
    let parsed = match text.parse::<jiff::civil::Date>() {
        Ok(_) if text.len() == 10 => format!("{text}T00:00:00Z").parse().ok(),
        _ => text.parse::<jiff::Timestamp>().ok(),
    };
    parsed.ok_or_else(|| {
        NotADate(format!(
            "`{text}` is neither a date (2026-11-01) nor an RFC 3339 time \
             (2026-11-01T00:00:00Z)"
        ))
    })
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
    /// The occurrence of a recurring campaign (RFC 3339, as `state list` shows it); without
    /// it, a one-off campaign's deliveries.
    #[arg(long, value_name = "TIME")]
    pub occurrence: Option<jiff::Timestamp>,
}

impl DeliveriesArgs {
    /// The round named.
    fn round(&self) -> crate::state::Round<'_> {
        crate::state::Round::of(&self.campaign, self.occurrence)
    }
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
pub(super) fn settings(project: &ProjectArgs) -> Result<(std::path::PathBuf, Project), Error> {
    let checked = super::Checked::new(project)?;
    match checked.validated.catalog.settings {
        Some(s) => Ok((checked.loaded.root, s)),
        None => Err(Error::new("herald.yaml has errors; run `herald validate`")),
    }
}

/// The project's state (as `--env` says), opened for `access`.
pub(super) fn open(
    root: &Path,
    settings: &Project,
    env: Option<&str>,
    access: Access,
) -> Result<Box<dyn Store>, Error> {
    Ok(crate::state::open(root, settings.state_for(env), access)?)
}

/// Runs `herald state ...`.
pub(super) fn state_command(args: &StateArgs, out: &mut dyn Write) -> Outcome {
    match &args.command {
        StateCommand::List(a) => list(a, out),
        StateCommand::Show(a) => show(a, out),
        StateCommand::Unlock(a) => unlock(a, out),
        StateCommand::MarkSent(a) => settle(a, Settlement::MarkSent, out),
        StateCommand::Forget(a) => settle(a, Settlement::Forget, out),
        StateCommand::Migrate(a) => migrate(a, out),
        StateCommand::Reconcile(a) => super::reconcile::reconcile_command(a, out),
        StateCommand::GrantRead(a) => super::grant::grant_read_command(a, out),
        StateCommand::Prune(a) => prune(a, out),
        StateCommand::Erase(a) => erase(a, out),
    }
}

fn list(args: &StateListArgs, out: &mut dyn Write) -> Outcome {
    let (root, settings) = settings(&args.project)?;
    let store = open(&root, &settings, args.project.env.as_deref(), Access::Read)?;
    let campaigns = store.campaigns()?;
    let test_sends = store.test_sends()?;
    let operations = store.operations()?;
    if args.format == super::Format::Json {
        let mut listed = serde_json::json!({ "campaigns": campaigns, "test_sends": test_sends });
        if !operations.is_empty() {
            listed["operations"] = serde_json::json!(operations);
        }
        let text = serde_json::to_string_pretty(&listed).unwrap_or_default();
        write_out(out, &format!("{text}\n"))?;
        return Ok(ExitStatus::Success);
    }
    let mut text = match (campaigns.is_empty(), test_sends.is_empty()) {
        (true, true) => format!("{}: nothing has been sent yet\n", store.location()),
        (true, false) => format!("{}: no campaign has been delivered yet\n", store.location()),
        (false, _) => crate::output::state::campaigns(&campaigns),
    };
    if campaigns.is_empty() {
        text.push_str(&other_states(&root, &settings, args.project.env.as_deref()));
    }
    if !test_sends.is_empty() {
        text.push('\n');
        text.push_str(&crate::output::state::test_sends(&test_sends));
    }
    if !operations.is_empty() {
        text.push('\n');
        text.push_str(&crate::output::state::operations(&operations));
    }
    write_out(out, &text)?;
    Ok(ExitStatus::Success)
}

/// `note: environment staging has a state of its own (.herald/staging.db): herald state list
/// --env staging`, for each other environment whose SQLite state exists: an empty list may
/// only mean the sends went to another state. (A PostgreSQL state is not looked for: that
/// would connect to every environment's server.)
fn other_states(root: &Path, settings: &Project, env: Option<&str>) -> String {
    let listed = settings.state_for(env);
    let mut notes = String::new();
    let others =
        std::iter::once(None).chain(settings.environments.keys().map(|e| Some(e.as_str())));
    for other in others.filter(|other| *other != env) {
        let config = settings.state_for(other);
        if config == listed || config.backend != crate::model::Backend::Sqlite {
            continue;
        }
        let path = config
            .path
            .as_deref()
            .unwrap_or(crate::state::open::DEFAULT_STATE_PATH);
        if !root.join(path).is_file() {
            continue;
        }
        let (whose, flag) = match other {
            Some(name) => (format!("environment {name}"), format!(" --env {name}")),
            None => ("the default environment".to_owned(), String::new()),
        };
        notes.push_str(&format!(
            "note: {whose} has a state of its own ({path}): herald state list{flag}\n"
        ));
    }
    notes
}

fn show(show: &StateShowArgs, out: &mut dyn Write) -> Outcome {
    let args = &show.deliveries;
    let (root, settings) = settings(&args.project)?;
    let store = open(&root, &settings, args.project.env.as_deref(), Access::Read)?;
    let history = store.history(args.round(), args.recipient.as_deref())?;
    if show.format == super::Format::Json {
        let text = serde_json::to_string_pretty(&history).unwrap_or_default();
        write_out(out, &format!("{text}\n"))?;
        return Ok(ExitStatus::Success);
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
        return Ok(ExitStatus::Problems);
    }
    let text = crate::output::state::history(&history, args.recipient.is_some());
    write_out(out, &text)?;
    Ok(ExitStatus::Success)
}

fn unlock(args: &StateUnlockArgs, out: &mut dyn Write) -> Outcome {
    let (root, settings) = settings(&args.project)?;
    let mut store = open(&root, &settings, args.project.env.as_deref(), Access::Write)?;
    let lock = store.current_lock()?;
    store.unlock(&args.id)?;
    if let Some(lock) = lock {
        write_out(
            out,
            &format!(
                "unlocked {} (held by {} since {})\n",
                lock.id, lock.holder, lock.since
            ),
        )?;
    }
    Ok(ExitStatus::Success)
}

/// Recipients named in full in a settlement's report; the rest are counted.
const NAMED: usize = 10;

fn settle(args: &DeliveriesArgs, how: Settlement, out: &mut dyn Write) -> Outcome {
    let (root, settings) = settings(&args.project)?;
    let store = open(&root, &settings, args.project.env.as_deref(), Access::Write)?;
    let recipients = crate::apply::settle_by_hand(
        store,
        &super::apply::holder(),
        args.round(),
        args.recipient.as_deref(),
        how,
    )?;
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
    Ok(ExitStatus::Success)
}

fn migrate(args: &StateMigrateArgs, out: &mut dyn Write) -> Outcome {
    let (root, settings) = settings(&args.project)?;
    let config = settings.state_for(args.project.env.as_deref());
    let env = |var: &str| std::env::var(var).ok();
    let from = Location::named(&args.from, &root, config, env)?;
    let to = Location::named(&args.to, &root, config, env)?;
    let holder = format!("herald state migrate ({})", super::apply::holder());
    let migrated = copy::migrate(&from, &to, &holder)?;
    let copied = migrated.copied;
    let what = match copied.test_sends {
        0 => format!(
            "{} attempts and {} applies",
            copied.attempts, copied.applies
        ),
        n => format!(
            "{} attempts, {} applies and {}",
            copied.attempts,
            copied.applies,
            crate::words::count(n, "test message")
        ),
    };
    write_out(
        out,
        &format!(
            "copied {what} from {} to {} (serial {})\n",
            migrated.from, migrated.to, copied.serial
        ),
    )?;
    Ok(ExitStatus::Success)
}

/// The state for a maintenance command (`prune`, `erase`): a dry run only reads, so it never
/// creates a state, nor takes the lock.
fn maintained(project: &ProjectArgs, dry_run: bool) -> Result<Box<dyn Store>, Error> {
    let (root, settings) = settings(project)?;
    let access = if dry_run { Access::Read } else { Access::Write };
    open(&root, &settings, project.env.as_deref(), access)
}

/// Prints a maintenance command's report as JSON, or as `human` words it.
fn report<R: serde::Serialize>(
    out: &mut dyn Write,
    format: super::Format,
    report: &R,
    human: fn(&R) -> String,
) -> Outcome {
    let text = match format {
        super::Format::Json => {
            let text = serde_json::to_string_pretty(report).unwrap_or_default();
            format!("{text}\n")
        }
        super::Format::Human => human(report),
    };
    write_out(out, &text)?;
    Ok(ExitStatus::Success)
}

fn prune(args: &StatePruneArgs, out: &mut dyn Write) -> Outcome {
    let store = maintained(&args.project, args.dry_run)?;
    let options = crate::state::prune::Options {
        before: args.before,
        now: super::command_time(args.now),
        dry_run: args.dry_run,
        vacuum: args.vacuum,
        who: super::apply::holder(),
    };
    let holder = format!("herald state prune ({})", super::apply::holder());
    let pruned = crate::state::prune::prune(store, &holder, &options)?;
    report(out, args.format, &pruned, crate::output::state::pruned)
}

fn erase(args: &StateEraseArgs, out: &mut dyn Write) -> Outcome {
    let store = maintained(&args.project, args.dry_run)?;
    let options = crate::state::erase::Options {
        phone: args.phone.clone(),
        now: super::command_time(args.now),
        who: super::apply::holder(),
        dry_run: args.dry_run,
    };
    let holder = format!("herald state erase ({})", super::apply::holder());
    let erased = crate::state::erase::erase(store, &holder, &options)?;
    report(out, args.format, &erased, crate::output::state::erased)
}
