//! `herald state reconcile [CAMPAIGN]`: settles unknown deliveries now, by what the
//! recipients' conversation histories show ([`crate::reconcile`]), under the state's lock.
//! Plan and apply do the same before planning; this is for an operator who wants it at once.

use std::io::Write;

use clap::Args;

use super::{Checked, Error, ExitStatus, Outcome, ProjectArgs, write_out};
use crate::output::reconcile as reconcile_view;
use crate::reads::EngatiReads;
use crate::state::Access;

/// `herald state reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Only this campaign's unknown deliveries; default: every campaign's.
    #[arg(value_name = "CAMPAIGN")]
    pub campaign: Option<String>,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = super::Format::Human)]
    pub format: super::Format,
    /// Allow an http:// api.base_url that is not loopback.
    #[arg(long)]
    pub insecure_http: bool,
    /// Mask phone numbers in the output, for public logs.
    #[arg(long)]
    pub redact: bool,
}

/// Runs `herald state reconcile`.
pub(super) fn reconcile_command(args: &ReconcileArgs, out: &mut dyn Write) -> Outcome {
    let checked = Checked::new(&args.project)?;
    let catalog = &checked.validated.catalog;
    let settings = checked.ready("reconcile again")?;
    let env = args.project.env.as_deref();
    let api = settings.api_for(env);
    let mut reads = EngatiReads::new(&api, args.insecure_http);
    if !reads.has_key() {
        return Err(Error::with_help(
            format_args!(
                "{} is not set: reconciling reads the recipients' conversation histories with \
                 the API key",
                api.api_key_env
            ),
            format_args!("set {} to the Engati API key", api.api_key_env),
        ));
    }
    let store = super::state::open(&checked.loaded.root, settings, env, Access::Write)?;
    let campaigns: Vec<String> = args.campaign.iter().cloned().collect();
    let holder = super::apply::holder();
    let decisions = crate::apply::reconcile_now(
        store,
        &mut reads,
        catalog,
        &settings.apply,
        &campaigns,
        &holder,
    );
    reads.shut_down();
    let rows = reconcile_view::rows(&decisions?, args.redact);
    let text = match args.format {
        super::Format::Json => reconcile_view::json(&rows),
        super::Format::Human => reconcile_view::human(&rows),
    };
    write_out(out, &text)?;
    Ok(ExitStatus::Success)
}
