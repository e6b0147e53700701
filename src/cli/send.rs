//! `herald send CAMPAIGN --to PHONE [--as RECIPIENT]`: one test message of a campaign,
//! rendered for one of its recipients and sent to PHONE ([`crate::apply::test_send`]). It is
//! never a delivery of the campaign; it is logged with the applies (`herald state list`).
//!
//! Exits [`ExitStatus::Success`] when Engati accepted it, [`ExitStatus::Incomplete`] when the
//! API refused it or its outcome is unknown, [`ExitStatus::Failed`] when nothing could start
//! (the project, the campaign, a phone, the key, the server, the lock).

use std::io::Write;
use std::sync::Arc;

use clap::Args;

use super::{Checked, Error, ExitStatus, Outcome, ProblemsAs, ProjectArgs, write_out};
use crate::apply::execute::{Executor, StopSignal};
use crate::apply::test_send::{self, Report, Test, TestMessage, TestSendError};
use crate::engati::{Client, ClientConfig};
use crate::reads::EngatiReads;
use crate::state::{Access, Outcome as Logged};

/// `herald send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The campaign to send a test of.
    #[arg(value_name = "CAMPAIGN")]
    pub campaign: String,
    /// The phone to send the test to (E.164, e.g. +919019486731).
    #[arg(long, value_name = "PHONE")]
    pub to: String,
    /// Render the test for this recipient of the campaign's audience (its E.164 phone); default:
    /// the first.
    #[arg(long = "as", value_name = "RECIPIENT")]
    pub rendered_for: Option<String>,
    /// The project and its settings.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Allow an http:// api.base_url that is not loopback.
    #[arg(long)]
    pub insecure_http: bool,
}

impl From<TestSendError> for Error {
    fn from(e: TestSendError) -> Error {
        Error::with_help(&e, e.help())
    }
}

/// Runs `herald send`.
pub(super) fn send_command(args: &SendArgs, out: &mut dyn Write) -> Outcome {
    let checked = Checked::new(&args.project)?;
    let settings = checked.ready("send again")?;
    let env = args.project.env.as_deref();
    let api = settings.api_for(env);
    // The key first: without it nothing is read or sent.
    let config =
        ClientConfig::from_settings(&api, |var| std::env::var(var).ok(), args.insecure_http)?;
    let project = checked.project(&api, env);
    let test = Test {
        campaign: &args.campaign,
        to: &args.to,
        rendered_for: args.rendered_for.as_deref(),
    };
    let mut users = EngatiReads::new(&api, args.insecure_http);
    let rendered = test_send::render(&project, &test, &mut users, super::command_time(None));
    users.shut_down();
    let message = match rendered {
        Err(TestSendError::Problems { campaign, problems }) => {
            eprint!(
                "{}",
                super::problems_text(&problems, ProblemsAs::Human, false)
            );
            return Err(TestSendError::Problems { campaign, problems }.into());
        }
        other => other?,
    };

    let rate = config.rate_limit();
    let client = Client::new(config)?;
    let runtime = super::runtime(Some(2))?;
    let stop = Arc::new(StopSignal::default());
    let _signals = super::signals::watch(&runtime, stop.clone());
    // A server that cannot be reached (or a rejected key) is found before anything is logged.
    runtime.block_on(client.reach())?;
    let store = super::state::open(&checked.loaded.root, settings, env, Access::Write)?;
    let executor = Executor::new(runtime.handle().clone(), client, 1, rate, stop);
    let report = test_send::send(store, &super::apply::holder(), &message, &executor);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let report = report?;
    if let Some(e) = &report.not_logged {
        eprint!("{}", Error::from(e.clone()).render());
    }
    let status = said(&message, &report)?;
    write_out(
        out,
        &format!(
            "Sent a test of campaign {} (rendered for {}) to {}: accepted by Engati\n",
            message.campaign, message.rendered_for, message.to
        ),
    )?;
    Ok(match report.not_logged {
        Some(_) => ExitStatus::Incomplete,
        None => status,
    })
}

/// Success when Engati accepted the test; else the error saying what came of it.
fn said(message: &TestMessage, report: &Report) -> Result<ExitStatus, Error> {
    let test = format!(
        "the test of campaign {} to {}",
        message.campaign, message.to
    );
    let (what, help) = match (report.record.outcome, &report.error) {
        (Logged::Sent, _) => return Ok(ExitStatus::Success),
        (Logged::Failed, Some(e)) => (format!("{test} was not accepted: {e}"), e.help()),
        (Logged::Unknown, Some(e)) => (
            format!("{test} may or may not have been delivered: {e}"),
            format!(
                "check whether {} received it; it is logged as unknown (`herald state list`)",
                message.to
            ),
        ),
        (Logged::Failed, None) => (
            format!("{test} was not sent: stopped before the request left"),
            "send it again".to_owned(),
        ),
        (_, _) => (
            format!("{test} may or may not have been delivered"),
            format!(
                "check whether {} received it; it is logged as unknown (`herald state list`)",
                message.to
            ),
        ),
    };
    Err(Error {
        status: ExitStatus::Incomplete,
        ..Error::with_help(what, help)
    })
}
