//! Which state a project uses and opening it: the `state` settings (for `--env`) resolved
//! to a [`Location`], and the backend behind it opened for reading or writing. The one place
//! that knows the defaults (`.herald/state.db`, `HERALD_STATE_URL`, schema `herald`).

use std::path::{Path, PathBuf};

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::{StateError, Store};
use crate::model::{Backend, StateConfig};

/// The default SQLite state file, relative to the project root.
pub const DEFAULT_STATE_PATH: &str = ".herald/state.db";
/// The variable holding the PostgreSQL state's URL when `state.url_env` is not set.
pub const DEFAULT_STATE_URL_ENV: &str = "HERALD_STATE_URL";
/// The PostgreSQL schema when `state.schema` is not set.
pub const DEFAULT_STATE_SCHEMA: &str = "herald";

/// Where a state is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A schema of a PostgreSQL database.
    Postgres {
        /// The server's URL, password included: read from the environment, never printed
        /// (this type has no `Debug` for that reason).
        url: String,
        /// The schema herald's tables live in.
        schema: String,
    },
}

/// Opening a state for reading (never creates one: a project never applied has an empty
/// state) or for writing (creates and migrates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `plan`, `state list|show`: nothing is created or changed.
    Read,
    /// `apply` and the commands that settle deliveries.
    Write,
}

impl Location {
    /// The state `config` names for a project in `root`; `env` looks up variables (the
    /// PostgreSQL URL).
    pub fn of(
        root: &Path,
        config: &StateConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Location, StateError> {
        match config.backend {
            Backend::Sqlite => Ok(Location::Sqlite(
                root.join(config.path.as_deref().unwrap_or(DEFAULT_STATE_PATH)),
            )),
            Backend::Postgres => Location::postgres(config, None, env),
        }
    }

    /// A state named on the command line: `sqlite:PATH` (relative to `root`) or
    /// `postgres[:SCHEMA]` (the URL from `config`'s variable).
    pub fn named(
        spec: &str,
        root: &Path,
        config: &StateConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Location, StateError> {
        match spec.split_once(':').unwrap_or((spec, "")) {
            ("sqlite", path) if !path.is_empty() => Ok(Location::Sqlite(root.join(path))),
            ("postgres", "") => Location::postgres(config, None, env),
            ("postgres", schema) => Location::postgres(config, Some(schema), env),
            _ => Err(StateError::NotAState {
                spec: spec.to_owned(),
            }),
        }
    }

    /// The PostgreSQL state of `config` (`schema` replaces its schema when given).
    fn postgres(
        config: &StateConfig,
        schema: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Location, StateError> {
        let var = config.url_env.as_deref().unwrap_or(DEFAULT_STATE_URL_ENV);
        let url = env(var).ok_or_else(|| StateError::UrlUnset {
            var: var.to_owned(),
        })?;
        let schema = schema
            .or(config.schema.as_deref())
            .unwrap_or(DEFAULT_STATE_SCHEMA)
            .to_owned();
        Ok(Location::Postgres { url, schema })
    }

    /// Opens the state here.
    pub fn open(&self, access: Access) -> Result<Box<dyn Store>, StateError> {
        Ok(match (self, access) {
            (Location::Sqlite(path), Access::Read) => Box::new(SqliteStore::open_read_only(path)?),
            (Location::Sqlite(path), Access::Write) => Box::new(SqliteStore::open(path)?),
            (Location::Postgres { url, schema }, Access::Read) => {
                Box::new(PostgresStore::open_read_only(url, schema)?)
            }
            (Location::Postgres { url, schema }, Access::Write) => {
                Box::new(PostgresStore::open(url, schema)?)
            }
        })
    }
}

/// Opens the state `config` names for the project in `root`, reading the PostgreSQL URL from
/// the process's environment.
pub fn open(
    root: &Path,
    config: &StateConfig,
    access: Access,
) -> Result<Box<dyn Store>, StateError> {
    Location::of(root, config, |var| std::env::var(var).ok())?.open(access)
}
