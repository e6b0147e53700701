//! `herald state grant-read ROLE`: lets a PostgreSQL role read the project's state and nothing
//! more, for review jobs that plan pull requests (docs/ci.md, "Least privilege").

use std::io::Write;

use clap::Args;

use super::exit::{Error, ExitStatus, Outcome};
use super::{ProjectArgs, write_out};
use crate::state::open::Location;
use crate::state::postgres::PostgresStore;

/// `herald state grant-read`.
#[derive(Debug, Args)]
pub struct StateGrantReadArgs {
    /// The project (its `state` settings name the PostgreSQL URL variable and schema).
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The role to let read the state: lowercase letters, digits and `_` (create it first,
    /// e.g. `CREATE ROLE herald_review LOGIN PASSWORD '…'`).
    #[arg(value_name = "ROLE")]
    pub role: String,
    /// Print the SQL instead of running it (for a database administrator to run).
    #[arg(long)]
    pub sql: bool,
}

/// Runs `herald state grant-read`.
pub(super) fn grant_read_command(args: &StateGrantReadArgs, out: &mut dyn Write) -> Outcome {
    let (root, settings) = super::state::settings(&args.project)?;
    let config = settings.state_for(args.project.env.as_deref());
    let location = Location::of(&root, config, |v| std::env::var(v).ok())?;
    let Location::Postgres { url, schema } = location else {
        return Err(Error {
            status: ExitStatus::Usage,
            ..Error::with_help(
                "grant-read is for a PostgreSQL state, and this project's state is a SQLite file",
                "a review job that should only read a SQLite state needs read access to the file \
                 (or a copy of it); see docs/ci.md, \"Least privilege\"",
            )
        });
    };
    let mut store = PostgresStore::open(&url, &schema)?;
    if args.sql {
        let statements = store.grant_read_statements(&args.role)?;
        write_out(out, &format!("{};\n", statements.join(";\n")))?;
        return Ok(ExitStatus::Success);
    }
    store.grant_read(&args.role)?;
    write_out(
        out,
        &format!(
            "Granted {} read access to the state in schema {schema}: its tables, and those later \
             migrations add. Plans made with its URL read state; apply and the state commands \
             that write are refused.\n",
            args.role
        ),
    )?;
    Ok(ExitStatus::Success)
}
