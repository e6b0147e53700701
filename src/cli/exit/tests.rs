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
