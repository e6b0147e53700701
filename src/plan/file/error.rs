//! Why a plan file cannot be used: [`PlanFileError`] (message and help), and the stop of a
//! plan being streamed into a sink ([`StreamError`]).

use std::fmt;
use std::io;
use std::path::Path;

/// Why a plan file cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFileError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl PlanFileError {
    /// The same error, naming the file it is about.
    pub fn in_file(self, path: &Path) -> PlanFileError {
        PlanFileError {
            message: format!("{}: {}", path.display(), self.message),
            ..self
        }
    }
}

/// Why streaming a plan stopped.
#[derive(Debug)]
pub enum StreamError {
    /// The plan is unreadable, damaged or from another herald.
    Plan(PlanFileError),
    /// The sink failed (its error, as it returned it).
    Sink(io::Error),
}

impl From<PlanFileError> for StreamError {
    fn from(error: PlanFileError) -> StreamError {
        StreamError::Plan(error)
    }
}

/// The error for a plan file that cannot be opened or read.
pub fn cannot_read(path: &Path, error: &io::Error) -> PlanFileError {
    PlanFileError {
        message: format!("cannot read the plan file {}: {error}", path.display()),
        help: "give the path `herald plan --out` wrote".to_owned(),
    }
}

/// Input that is not a plan at all.
pub(crate) fn not_a_plan(detail: impl fmt::Display) -> PlanFileError {
    PlanFileError {
        message: format!("not a herald plan: {detail}"),
        help: "plan files are written by `herald plan --out FILE`; do not edit them".to_owned(),
    }
}

/// A plan that was cut short, corrupted or edited.
pub(crate) fn damaged(detail: impl fmt::Display) -> PlanFileError {
    PlanFileError {
        message: format!("the plan file is damaged: {detail}"),
        help: "make the plan again with `herald plan --out FILE`; plan files must not be edited"
            .to_owned(),
    }
}
