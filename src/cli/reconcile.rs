//! `herald state reconcile [CAMPAIGN]`: settles unknown deliveries now, by what the
//! recipients' conversation histories show ([`crate::reconcile`]), under the state's lock.
//! Plan and apply do the same before planning; this is for an operator who wants it at once.

use std::fmt::Write as _;
use std::io::Write;

use clap::Args;

use super::{Checked, Error, ExitStatus, Outcome, ProjectArgs, write_out};
use crate::reads::EngatiReads;
use crate::reconcile::{self, Decisions, Verdict};
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
    let Some(settings) = catalog
        .settings
        .as_ref()
        .filter(|_| !checked.validated.has_errors())
    else {
        return Err(Error::with_help(
            "the project has errors",
            "run `herald validate` and fix them",
        ));
    };
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
    let rows = rows(&decisions?, args.redact);
    let text = match args.format {
        super::Format::Json => json(&rows),
        super::Format::Human => human(&rows),
    };
    write_out(out, &text)?;
    Ok(ExitStatus::Success)
}

/// One decision as shown: campaign, recipient, decision.
type Row = (String, String, reconcile::Decision);

/// The decisions in campaign and recipient order, phones masked under `--redact` (in the
/// reasons too: an error reading a history names its path).
fn rows(decisions: &Decisions, redact: bool) -> Vec<Row> {
    let shown = |r: &String| {
        if redact && r != crate::state::WHOLE_CAMPAIGN {
            crate::output::plan::mask_phone(r)
        } else {
            r.clone()
        }
    };
    decisions
        .iter()
        .flat_map(|(c, by)| {
            by.iter().map(move |(r, d)| {
                let mut d = d.clone();
                if redact {
                    d.why = crate::output::plan::redact_text(&d.why);
                }
                (c.clone(), shown(r), d)
            })
        })
        .collect()
}

/// One line per decision, then the totals and what happens next.
fn human(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no unknown deliveries: nothing to reconcile\n".to_owned();
    }
    let wc = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let wr = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for (campaign, recipient, d) in rows {
        let _ = writeln!(
            text,
            "{campaign:wc$}  {recipient:wr$}  {:13}  {}",
            d.verdict.as_str(),
            d.why
        );
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.2.verdict == v).count();
    let _ = writeln!(
        text,
        "\n{} delivered (recorded as sent), {} not delivered (recorded as failed: the next plan \
         sends them again), {} pending, {} unknowable, {} unchecked (still unknown)",
        count(Verdict::Delivered),
        count(Verdict::NotDelivered),
        count(Verdict::Pending),
        count(Verdict::Unknowable),
        count(Verdict::Unchecked),
    );
    text
}

/// An array of `{campaign, recipient, verdict, why}`, in campaign and recipient order.
fn json(rows: &[Row]) -> String {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(c, r, d)| {
            serde_json::json!({"campaign": c, "recipient": r, "verdict": d.verdict, "why": d.why})
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).unwrap_or_default();
    text.push('\n');
    text
}
