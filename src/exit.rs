//! [`ExitStatus`]: each of herald's exit codes with its one meaning. The CLI ends every command
//! with one; the few places below it that must end the process at once (a runaway template's
//! watchdog) take their code from here too.

use std::process::ExitCode;

/// How herald exits. The codes follow Terraform's where it has one: 0 done, 1 problems, and
/// under `--detailed-exitcode` 2 for changes (so errors there exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done; under `--detailed-exitcode`, nothing would change. Exit 0.
    Success,
    /// The command ran and found problems: the project has errors, the schemas are out of
    /// date. Exit 1.
    Problems,
    /// Apply ran and not everything planned was sent (failed, unknown, not sent: a signal, a
    /// key rejected mid-run, a dead server), or approval was declined. Exit 1.
    Incomplete,
    /// `--detailed-exitcode`: apply would send something. Exit 2.
    Changes,
    /// A bad argument or flag value (clap's errors, an `--env` herald.yaml does not define).
    /// Exit 2.
    Usage,
    /// Nothing could start: unreadable files, a refused plan, the lock, a missing or rejected
    /// key, an unreachable server, a failed state. Exit 2.
    Failed,
    /// Apply refused a plan that is not the plan the project makes now: the project, the state
    /// or what Engati answers moved since it was made (or it was edited). Nothing was sent;
    /// planning again, and reviewing that plan, is the fix. Its own code so that a pipeline
    /// re-plans for this and only this. Exit 3.
    Stale,
    /// [`ExitStatus::Usage`] or [`ExitStatus::Failed`] under `--detailed-exitcode`, where 2
    /// means changes. Exit 1.
    FailedBesideChanges,
}

impl ExitStatus {
    /// The process's exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Problems | ExitStatus::Incomplete | ExitStatus::FailedBesideChanges => 1,
            ExitStatus::Changes | ExitStatus::Usage | ExitStatus::Failed => 2,
            ExitStatus::Stale => 3,
        }
    }

    /// This status as a command with `--detailed-exitcode` reports it: a failure must not
    /// exit 2, which says "changes".
    pub fn beside_changes(self) -> ExitStatus {
        match self {
            ExitStatus::Usage | ExitStatus::Failed => ExitStatus::FailedBesideChanges,
            other => other,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}
