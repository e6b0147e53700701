//! Read-only access for review jobs: the statements that let a role read a state's schema,
//! and the tables later migrations add to it, and nothing else. A pull request's plan then runs
//! with a URL whose role cannot write state, whatever the pull request's files make it do.

use super::super::StateError;
use super::super::sql::fail;
use super::{PostgresStore, is_identifier};

/// The statements that give `role` read access to the (quoted) `schema`: its tables now, and
/// those that tables its owner creates later (a migration) get too.
fn grant_read_sql(schema: &str, role: &str) -> Vec<String> {
    vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO \"{role}\""),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO \"{role}\""),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO \"{role}\""),
    ]
}

impl PostgresStore {
    /// The statements [`PostgresStore::grant_read`] runs, for showing; `role` must be a plain
    /// identifier (lowercase letters, digits and `_`).
    pub fn grant_read_statements(&self, role: &str) -> Result<Vec<String>, StateError> {
        if !is_identifier(role) {
            return Err(StateError::Backend {
                location: self.location.clone(),
                message: format!(
                    "`{role}` cannot be a role name here: use lowercase letters, digits and `_`, \
                     starting with a letter or `_` (at most 63)"
                ),
            });
        }
        Ok(grant_read_sql(&self.schema, role))
    }

    /// Lets `role` read this state and nothing more, in one transaction.
    pub fn grant_read(&mut self, role: &str) -> Result<(), StateError> {
        let statements = self.grant_read_statements(role)?;
        let doing = format!("cannot grant {role} read access");
        let location = self.location.clone();
        let client = self.client.get_mut();
        let mut tx = client.transaction().map_err(fail(&location, &doing))?;
        for statement in &statements {
            tx.batch_execute(statement)
                .map_err(fail(&location, &doing))?;
        }
        tx.commit().map_err(fail(&location, &doing))
    }
}
