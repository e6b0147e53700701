//! How a command ends: an [`ExitStatus`], or an [`Error`], a command that could not do its
//! job (what went wrong, how to fix it, how herald exits), rendered in one place:
//! [`super::run`].

use std::fmt::Display;

pub use crate::exit::ExitStatus;

/// A command that could not do its job: what went wrong, how to fix it, and how herald
/// exits. Every layer's error converts into one, keeping its help line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong, naming what it went wrong with (a file, a campaign, a host).
    pub message: String,
    /// How to fix it, when there is something to say.
    pub help: Option<String>,
    /// How herald exits: [`ExitStatus::Failed`] unless said otherwise.
    pub status: ExitStatus,
}

impl Error {
    /// An error without help; exits [`ExitStatus::Failed`].
    pub fn new(message: impl Display) -> Error {
        Error {
            message: message.to_string(),
            help: None,
            status: ExitStatus::Failed,
        }
    }

    /// An error with how to fix it; exits [`ExitStatus::Failed`].
    pub fn with_help(message: impl Display, help: impl Display) -> Error {
        Error {
            help: Some(help.to_string()),
            ..Error::new(message)
        }
    }

    /// The same error under `--detailed-exitcode` ([`ExitStatus::beside_changes`]).
    pub fn beside_changes(self) -> Error {
        Error {
            status: self.status.beside_changes(),
            ..self
        }
    }

    /// The error as herald prints it on stderr: `error: …`, then `help: …`.
    pub fn render(&self) -> String {
        match &self.help {
            Some(help) => format!("error: {}\nhelp: {help}\n", self.message),
            None => format!("error: {}\n", self.message),
        }
    }
}

/// Errors that know how to fix themselves: their `help()` becomes the help line.
macro_rules! with_help {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for Error {
            fn from(e: $error) -> Error {
                Error::with_help(&e, e.help())
            }
        }
    )*};
}

with_help!(
    crate::state::StateError,
    crate::engati::ConfigError,
    crate::engati::ApiError,
    crate::engati::Unusable,
    crate::apply::SettleError,
    crate::state::copy::CopyError,
    crate::state::prune::PruneError,
    crate::state::erase::EraseError,
    crate::load::git::GitError,
);

/// A refused plan exits [`ExitStatus::Stale`] when planning again is the fix (the plan is not
/// the one the project makes now), [`ExitStatus::Failed`] otherwise: pipelines re-plan on the
/// one and alert on the other.
impl From<crate::apply::preflight::Refusal> for Error {
    fn from(e: crate::apply::preflight::Refusal) -> Error {
        Error {
            status: match e.is_stale() {
                true => ExitStatus::Stale,
                false => ExitStatus::Failed,
            },
            ..Error::with_help(&e, e.help())
        }
    }
}

impl From<crate::plan::json::PlanFileError> for Error {
    fn from(e: crate::plan::json::PlanFileError) -> Error {
        Error::with_help(e.message, e.help)
    }
}

/// A command's outcome.
pub type Outcome = Result<ExitStatus, Error>;

#[cfg(test)]
mod tests;
