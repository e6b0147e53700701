//! Exit codes and how errors are printed: what scripts and CI read.

use super::{Error, ExitStatus};
use crate::state::StateError;

#[test]
fn each_status_has_the_documented_code() {
    use ExitStatus::*;
    let codes: Vec<(ExitStatus, u8)> = [
        Success,
        Problems,
        Incomplete,
        Changes,
        Usage,
        Failed,
        FailedBesideChanges,
        Stale,
    ]
    .into_iter()
    .map(|s| (s, s.code()))
    .collect();
    assert_eq!(
        codes,
        [
            (Success, 0),
            (Problems, 1),
            (Incomplete, 1),
            (Changes, 2),
            (Usage, 2),
            (Failed, 2),
            (FailedBesideChanges, 1),
            (Stale, 3),
        ]
    );
}

#[test]
fn under_detailed_exitcode_no_failure_exits_2() {
    for status in [ExitStatus::Usage, ExitStatus::Failed] {
        assert_eq!(status.beside_changes().code(), 1, "{status:?}");
    }
    assert_eq!(ExitStatus::Changes.beside_changes(), ExitStatus::Changes);
    assert_eq!(ExitStatus::Problems.beside_changes(), ExitStatus::Problems);
}

#[test]
fn an_error_prints_its_message_then_its_help() {
    let error = Error::with_help("the project has errors", "run `herald validate`");
    assert_eq!(
        error.render(),
        "error: the project has errors\nhelp: run `herald validate`\n"
    );
    assert_eq!(Error::new("no help").render(), "error: no help\n");
}

#[test]
fn a_layers_error_keeps_its_help() {
    let error = Error::from(StateError::UrlUnset {
        var: "HERALD_STATE_URL".to_owned(),
    });
    assert_eq!(error.status, ExitStatus::Failed);
    assert_eq!(
        error.render(),
        "error: HERALD_STATE_URL is not set: it holds the URL of the PostgreSQL state\n\
         help: set HERALD_STATE_URL to the state database's postgres:// URL (state.url_env \
         names the variable)\n"
    );
}

/// What a pipeline reads from a refused apply: exit 3 when planning again (and reviewing the
/// new plan) is the fix, 2 when it is not, so that only a stale plan is planned again.
#[test]
fn a_stale_plan_exits_3_and_every_other_refusal_2() {
    use crate::apply::preflight::Refusal;
    let at = |t: &str| t.parse::<jiff::Timestamp>().expect("a time");
    let target = |url: &str| crate::plan::Target {
        base_url: url.to_owned(),
        customer_id: 7,
        bot_key: "bot".to_owned(),
    };
    let refusals = [
        Refusal::ProjectChanged,
        Refusal::StateMoved { planned: 4, now: 6 },
        Refusal::OtherLineage {
            planned: "0123456789abcdef".to_owned(),
            now: Some("fedcba9876543210".to_owned()),
        },
        Refusal::TooOld {
            created_at: at("2026-11-20T09:00:00Z"),
            age: jiff::SignedDuration::from_hours(11 * 24),
            max_age: jiff::SignedDuration::from_hours(7 * 24),
        },
        Refusal::OtherVersion {
            planned: "0.0.1".to_owned(),
        },
        Refusal::Tampered {
            campaign: Some("feedback-flow".to_owned()),
            recipient: Some("+919999900001".to_owned()),
            line: 5,
        },
        Refusal::HistoriesMoved {
            campaign: Some("invoice-reminder-dec".to_owned()),
            recipient: "+919019486731".to_owned(),
        },
        Refusal::Unreadable {
            message: "plan.json: not a plan".to_owned(),
            help: "apply a file written by `herald plan --out`".to_owned(),
        },
        Refusal::OtherTarget {
            plan: target("https://api.engati.ai"),
            settings: target("http://127.0.0.1:8787"),
        },
        Refusal::FromTheFuture {
            created_at: at("2026-12-01T10:00:00Z"),
            now: at("2026-12-01T09:00:00Z"),
        },
        Refusal::Unsafe(vec![crate::plan::safety::Breach::MaxSends {
            limit: 100,
            set_at: "herald.yaml:12:3".to_owned(),
            messages: 250,
        }]),
        Refusal::NotMadeAgain("the Users API did not answer".to_owned()),
        Refusal::State(StateError::UrlUnset {
            var: "HERALD_STATE_URL".to_owned(),
        }),
        Refusal::Io("cannot keep a copy of the plan: disk full".to_owned()),
    ];
    let table: String = refusals
        .into_iter()
        .map(|refusal| {
            let error = Error::from(refusal);
            let first = error.render().lines().next().unwrap_or_default().to_owned();
            format!("exit {}  {first}\n", error.status.code())
        })
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    insta::assert_snapshot!(table.replace(version, "[version]"));
}
