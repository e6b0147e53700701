//! `herald apply [PLANFILE]`: send exactly what a saved plan says, and record every outcome.
//! Without a plan file, apply plans first, shows the plan and asks for `yes` (or takes
//! `--auto-approve`), then applies that plan.
//!
//! Before anything is sent the library's preflight ([`preflight`]) proves the plan is the plan
//! the project makes against this very state; then the plan's sends go out
//! ([`crate::apply`]). SIGTERM, SIGHUP and SIGINT stop it cleanly ([`super::signals`]).
//!
//! Exits [`ExitStatus::Success`] when everything planned was sent, [`ExitStatus::Incomplete`]
//! when some deliveries failed, are unknown or were not sent (a rejected key, a dead server
//! and a signal included), [`ExitStatus::Stale`] when the plan is refused as stale (planning
//! again is the fix: [`preflight::Refusal::is_stale`]), [`ExitStatus::Failed`] when nothing
//! else could start (another refusal, the lock, a missing key, settings).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{Checked, Error, ExitStatus, Outcome, ProjectArgs, write_out};
use crate::apply::execute::{Executor, StopSignal};
use crate::apply::{self, Options, Report, preflight};
use crate::clock::Clock;
use crate::engati::{Client, ClientConfig};
use crate::plan::file;
use crate::reads::EngatiReads;
use crate::state::Access;

/// `herald apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// A plan written by `herald plan --out`: exactly its sends are made. Without one, apply
    /// plans, shows the plan and asks before sending.
    #[arg(value_name = "PLANFILE")]
    pub plan: Option<PathBuf>,
    /// Apply without asking (needed to plan and apply in one step without a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Plan and apply only this campaign; may be repeated (not with a plan file).
    #[arg(long = "campaign", value_name = "NAME")]
    pub campaigns: Vec<String>,
    /// The project and its settings (as the plan was made with).
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Also send deliveries whose outcome is unknown (they may have been delivered already).
    #[arg(long)]
    pub resend_unknown: bool,
    /// Apply a plan that breaks a safety cap (safety.max_sends, a campaign's max_sends,
    /// safety.max_changed_share).
    #[arg(long)]
    pub force: bool,
    /// Refuse a plan made longer ago than this (`90m`, `24h`, `7d`) as stale (exit 3): a plan
    /// reviewed long ago is planned and reviewed again.
    #[arg(long, value_name = "DURATION", value_parser = parse_max_age)]
    pub max_age: Option<jiff::SignedDuration>,
    /// Requests in flight at once (default: api.concurrency, else 16).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Requests per second across all workers, evenly spaced (default: api.rate_limit).
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Allow an http:// api.base_url that is not loopback.
    #[arg(long)]
    pub insecure_http: bool,
    /// Act as if it were this RFC 3339 time: what is due, and the times recorded in state.
    /// More than a minute from the real clock only when api.base_url is loopback (the
    /// emulator), for rehearsing schedules.
    #[arg(long, value_name = "TIME")]
    pub now: Option<jiff::Timestamp>,
}

fn parse_max_age(text: &str) -> Result<jiff::SignedDuration, super::BadValue> {
    match crate::model::project::duration(text) {
        Some(age) if age.is_positive() => Ok(age),
        _ => Err(super::BadValue(format!(
            "`{text}` is not a duration above zero: give a number and a unit, s, m, h or d, e.g. 24h or 7d"
        ))),
    }
}

fn parse_rate(text: &str) -> Result<f64, super::BadValue> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    match number.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(super::BadValue(format!(
            "`{text}` is not a rate: give requests per second, e.g. 80 or 80/s"
        ))),
    }
}

/// What an apply runs on: the async runtime, the stop its signals set, and its clock.
struct Session {
    runtime: tokio::runtime::Runtime,
    stop: Arc<StopSignal>,
    signals: super::signals::Received,
    clock: Clock,
}

/// Runs `herald apply`; returns the exit code.
pub(super) fn apply_command(args: &ApplyArgs, out: &mut dyn Write) -> Outcome {
    if let (Some(path), false) = (&args.plan, args.campaigns.is_empty()) {
        return Err(Error::with_help(
            format_args!("--campaign cannot narrow the plan file {}", path.display()),
            "a reviewed plan is applied whole: make a plan with --campaign and apply that",
        ));
    }
    let project = match &args.plan {
        Some(path) => with_plans_environment(&args.project, path)?,
        None => args.project.clone(),
    };
    let args = &ApplyArgs {
        project,
        ..args.clone()
    };
    let clock = clock(args)?;
    let runtime = super::runtime(Some(2))?;
    let stop = Arc::new(StopSignal::default());
    // From the start, so a signal while planning also ends cleanly (no temporary plan left).
    let signals = super::signals::watch(&runtime, stop.clone());
    let session = Session {
        runtime,
        stop,
        signals,
        clock,
    };
    let code = match &args.plan {
        Some(path) => apply_file(args, path, &session, out),
        None => plan_then_apply(args, &session, out),
    };
    session
        .runtime
        .shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// The project arguments with the environment the plan file was made for: a plan made with
/// `--env staging` applies to staging without saying so again. An `--env` that names another
/// is refused, as is one given for a plan made without. A file that cannot be read as a plan
/// is left to the checks that report it.
fn with_plans_environment(project: &ProjectArgs, path: &Path) -> Result<ProjectArgs, Error> {
    let Ok(header) = std::fs::File::open(path)
        .map_err(drop)
        .and_then(|file| crate::plan::file::header(file).map_err(drop))
    else {
        return Ok(project.clone());
    };
    let planned = header.environment;
    match (&project.env, &planned) {
        (Some(given), planned) if Some(given) != planned.as_ref() => {
            let made = match planned {
                Some(env) => format!("made with --env {env}"),
                None => "made without --env".to_owned(),
            };
            Err(Error {
                status: ExitStatus::Usage,
                ..Error::with_help(
                    format_args!(
                        "{} was {made}, and --env {given} names another environment",
                        path.display()
                    ),
                    format_args!(
                        "apply it without --env (it applies to the environment it was made \
                         for), or make a plan with --env {given} and apply that"
                    ),
                )
            })
        }
        _ => Ok(ProjectArgs {
            env: planned.or_else(|| project.env.clone()),
            ..project.clone()
        }),
    }
}

/// `--now`'s clock. Moved further than a minute, it could make a real API send scheduled
/// campaigns early: only the emulator (a loopback `api.base_url`) takes it.
fn clock(args: &ApplyArgs) -> Result<Clock, Error> {
    let clock = Clock::starting_at(args.now);
    if clock.fits_a_real_api() {
        return Ok(clock);
    }
    let checked = Checked::new(&args.project)?;
    let Some(settings) = &checked.validated.catalog.settings else {
        // The project's problems are reported by the apply itself.
        return Ok(clock);
    };
    let api = settings.api_for(args.project.env.as_deref());
    if crate::engati::config::is_loopback_url(&api.base_url) {
        return Ok(clock);
    }
    Err(Error {
        status: ExitStatus::Usage,
        ..Error::with_help(
            format_args!(
                "--now is {} from this machine's clock, and api.base_url ({}) is not loopback",
                crate::words::duration(clock.offset().abs()),
                api.base_url
            ),
            "apply --now only rehearses against the emulator (a loopback api.base_url, e.g. \
             --env staging); against Engati, apply at the real time",
        )
    })
}

/// Says that a signal stopped apply before anything was sent.
fn stopped_before_sending(session: &Session) -> Option<ExitStatus> {
    let signal = session.signals.received()?;
    eprintln!("apply stopped by {signal} before anything was sent");
    Some(ExitStatus::Incomplete)
}

/// Plans (showing the plan), asks, then applies that very plan.
fn plan_then_apply(args: &ApplyArgs, session: &Session, out: &mut dyn Write) -> Outcome {
    let approval = !args.auto_approve && std::io::stdin().is_terminal();
    if !args.auto_approve && !approval {
        return Err(Error::with_help(
            "apply without a plan file asks for approval, and there is no terminal to ask on",
            "apply a reviewed plan file (`herald plan --out plan.json`, then `herald apply plan.json`), or pass --auto-approve",
        ));
    }
    let dir = tempfile::tempdir()
        .map_err(|e| Error::new(format_args!("cannot create a temporary directory: {e}")))?;
    let path = dir.path().join("plan.json");
    let planning = super::plan::Planning {
        project: &args.project,
        campaigns: &args.campaigns,
        out: Some(&path),
        format: super::plan::PlanFormat::Human,
        redact: false,
        github_summary: false,
        emulator: false,
        insecure_http: args.insecure_http,
        now: Some(session.clock.now_in_seconds()),
        announce_out: false,
    };
    // A plan that cannot be made means nothing could start.
    let planned = super::plan::plan(&planning, out)?;
    if let Some(status) = stopped_before_sending(session) {
        return Ok(status);
    }
    if planned.breaches > 0 && !args.force {
        return Err(Error::with_help(
            "the plan breaks a safety cap (see above), so nothing was sent",
            "check the audiences and the changes; if the plan is right, apply with --force, or raise the cap",
        ));
    }
    if planned.status != ExitStatus::Success && planned.breaches == 0 {
        // The problems are printed: nothing could start.
        return Ok(ExitStatus::Failed);
    }
    let file = std::fs::File::open(&path).map_err(|e| file::error::cannot_read(&path, &e))?;
    let outline = file::outline(file).map_err(|e| e.in_file(&path))?;
    let to_send: u64 = outline
        .campaigns
        .iter()
        .map(|(_, counts)| apply::planned(counts, args.resend_unknown))
        .sum();
    let to_record: u64 = outline.campaigns.iter().map(|(_, c)| c.reconciled).sum();
    if to_send == 0 && to_record == 0 {
        write_out(out, "\nNothing to apply.\n")?;
        return Ok(ExitStatus::Success);
    }
    if approval && to_send > 0 {
        write_out(
            out,
            &format!("\nSend these {to_send} messages? Only `yes` is accepted.\n  Enter a value: "),
        )?;
        out.flush()
            .map_err(|e| Error::new(format_args!("cannot write output: {e}")))?;
        let answer =
            ask(session).map_err(|e| Error::new(format_args!("cannot read the answer: {e}")))?;
        if let Some(status) = stopped_before_sending(session) {
            return Ok(status);
        }
        if answer.trim() != "yes" {
            write_out(out, "\nApply cancelled: nothing was sent.\n")?;
            return Ok(ExitStatus::Incomplete);
        }
    }
    apply_file(args, &path, session, out)
}

/// Reads the answer to the approval question; a signal while waiting ends the wait.
fn ask(session: &Session) -> std::io::Result<String> {
    let (sender, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line).map(|_| line);
        let _ = sender.send(read);
    });
    loop {
        match answer.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(read) => return read,
            Err(_) if session.stop.is_stopped() => return Ok(String::new()),
            Err(_) => {}
        }
    }
}

/// Applies a plan file: the library's preflight ([`preflight`]), the sends, the summary.
fn apply_file(args: &ApplyArgs, path: &Path, session: &Session, out: &mut dyn Write) -> Outcome {
    let checked = Checked::new(&args.project)?;
    let settings = checked.ready("plan again")?;
    let env = args.project.env.as_deref();
    let api = settings.api_for(env);
    let project = checked.project(&api, env);
    let allow = preflight::Allow {
        unsafe_plan: args.force,
        resend_unknown: args.resend_unknown,
        max_age: args.max_age,
    };
    let plan = preflight::open_plan(path, &project, allow, session.clock)?;
    let breaches = plan.outline.breaches(args.resend_unknown);
    for breach in &breaches {
        eprintln!("warning: applying with --force: {breach}");
    }
    let header = &plan.outline.header;
    let paced = header.frequency_cap.is_some() || header.messaging_limit.is_some();
    if args.resend_unknown && paced && plan.outline.counts.unknown > 0 {
        eprintln!(
            "warning: --resend-unknown sends {} unknown deliveries again whatever the frequency \
             cap and the messaging limit say: a person may hear twice from one campaign",
            plan.outline.counts.unknown
        );
    }
    let (client, concurrency, rate) = client(&api, args)?;
    // A server that cannot be reached (or a rejected key) is found with one read, before
    // anything is recorded: not after every recipient was tried six times.
    session.runtime.block_on(client.reach())?;

    let store = super::state::open(&checked.loaded.root, settings, env, Access::Write)?;
    let mut users = EngatiReads::new(&api, args.insecure_http);
    let ready = preflight::prepare(plan, &project, store, &mut users, &holder(), session.clock);
    users.shut_down();
    let mut ready = ready?;
    let withheld = say_what_was_left(&ready);
    let executor = Executor::new(
        session.runtime.handle().clone(),
        client,
        concurrency,
        rate,
        session.stop.clone(),
    );
    let mut options = Options::for_concurrency(concurrency, args.resend_unknown, ready.state.id());
    options.withheld = std::mem::take(&mut ready.withheld);
    options.clock = session.clock;
    let report = apply::run(
        &mut ready.plan,
        &ready.outline,
        &mut *ready.state,
        &executor,
        &session.stop,
        &options,
        &mut super::progress::Reporter::detect(),
    );
    // The plan was read whole and proven before: failing to read it again now is an I/O
    // failure after sends may have gone out, not "nothing could start".
    let report = report.map_err(|e| Error {
        status: ExitStatus::Incomplete,
        ..Error::from(e)
    })?;
    let finished = preflight::finish(ready.state, ready.record, &report, session.clock);
    write_out(out, &crate::output::apply::summary(&report))?;
    say_how_it_ended(&report, session);
    if !args.resend_unknown {
        say_unknowns_left(&ready.outline, withheld);
    }
    // After sends, a failure to close the apply's record is reported, not turned into
    // "nothing could start".
    if let Err(e) = finished {
        eprint!("{}", Error::from(e).render());
        return Ok(ExitStatus::Incomplete);
    }
    Ok(match report.all_sent() {
        true => ExitStatus::Success,
        false => ExitStatus::Incomplete,
    })
}

/// The Engati client of `api` (the key from its variable), with the concurrency and rate
/// the flags or the settings ask for.
fn client(
    api: &crate::model::Api,
    args: &ApplyArgs,
) -> Result<(Client, usize, Option<f64>), Error> {
    let config = ClientConfig::from_settings(api, |v| std::env::var(v).ok(), args.insecure_http)?;
    let concurrency = args
        .concurrency
        .unwrap_or(config.concurrency() as usize)
        .max(1);
    let rate = args.rate.or(config.rate_limit());
    Ok((Client::new(config)?, concurrency, rate))
}

/// Says what earlier applies left that this one found before sending: a dead holder's lock,
/// its in-flight deliveries, verdicts that cannot be checked again. Returns how many verdicts
/// are withheld.
fn say_what_was_left(ready: &preflight::Ready) -> u64 {
    if let Some(dead) = ready.state.took_over() {
        eprintln!(
            "note: took over the lock of {} (since {}), which is no longer running",
            dead.holder, dead.since
        );
    }
    if ready.settled > 0 {
        eprintln!(
            "warning: {} deliveries were in flight when an earlier apply stopped; they are now `unknown` (see `herald state list`)",
            ready.settled
        );
    }
    let withheld: usize = ready
        .withheld
        .values()
        .map(std::collections::BTreeMap::len)
        .sum();
    if withheld > 0 {
        eprintln!(
            "warning: {withheld} of the plan's reconcile verdicts could not be checked again (a conversation history read failed); their deliveries stay unknown, neither recorded nor sent: the next apply checks them again"
        );
    }
    withheld as u64
}

/// Says how many deliveries stay unknown after this apply: those the plan left unknown, and
/// those whose verdicts were withheld.
fn say_unknowns_left(outline: &file::Outline, withheld: u64) {
    let left: u64 = outline
        .campaigns
        .iter()
        .map(|(_, c)| c.unknown.saturating_sub(c.reconciled))
        .sum::<u64>()
        + withheld;
    if left > 0 {
        eprintln!(
            "note: {left} deliveries stay unknown (`herald plan` says why: a trigger leaves no trace to check, or a message not due to show yet); `herald state mark-sent|forget` settles them by hand"
        );
    }
}

/// Says what stopped the apply, if something did: the state, the API, a signal.
fn say_how_it_ended(report: &Report, session: &Session) {
    if let Some(e) = &report.state_failure {
        eprint!("{}", Error::from(e.clone()).render());
    } else if let Some(error) = &report.stopped_by {
        eprint!("{}", Error::from(error.clone()).render());
    }
    // A signal is said even when requests that hung past it also stopped apply.
    if let Some(signal) = session.signals.received() {
        eprintln!("apply stopped by {signal}: {}", stopped_how(report));
    } else if report.interrupted && report.state_failure.is_none() && report.stopped_by.is_none() {
        eprintln!("apply interrupted: {}", stopped_how(report));
    }
}

/// What a stopped apply did with its requests.
fn stopped_how(report: &Report) -> &'static str {
    if report.sent_anything() {
        "requests in flight were finished and recorded, the lock is released; `herald plan` lists what was not sent"
    } else {
        "nothing was sent; the lock is released"
    }
}

/// Who is applying: the CI job when there is one, else user@host, with the process id.
pub(super) fn holder() -> String {
    let ci = ["GITHUB_RUN_ID", "CI_JOB_ID"]
        .iter()
        .find_map(|v| std::env::var(v).ok().map(|id| format!("ci job {id}")));
    let who = ci.unwrap_or_else(|| {
        let user = std::env::var("USER").unwrap_or_else(|_| "someone".to_owned());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        format!("{user}@{host}")
    });
    format!("{who} (pid {})", std::process::id())
}
