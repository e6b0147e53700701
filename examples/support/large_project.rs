//! A generated project: the invoice reminder campaign (tests/fixtures/large) to a CSV of N
//! distinct recipients, for the plan and apply benchmarks.
#![allow(dead_code)] // each benchmark uses part of it

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write as _};
use std::path::Path;

/// Engati's own API, for projects that are only planned.
pub(crate) const ENGATI: &str = "https://api.engati.ai";

const CAMPAIGN_YAML: &str = include_str!("../../tests/fixtures/large/invoice-campaign.yaml");

const FIRST_NAMES: [&str; 24] = [
    "john", "jahnavi", "aarav", "priya", "rohan", "ananya", "vikram", "meera", "arjun", "kavya",
    "rahul", "sneha", "aditya", "pooja", "karthik", "divya", "suresh", "lakshmi", "imran",
    "fatima", "gurpreet", "neha", "thomas", "deepa",
];

/// Writes the project for `n` recipients, sending to `base_url`, into `dir`; returns the CSV's
/// size in bytes.
///
/// Phones are `+919` and 9 digits, a bijection of the row index (7919 is prime to 10^9), so
/// they are distinct but not in order; names cycle through a list with a stride; invoice
/// numbers are distinct.
pub(crate) fn generate(dir: &Path, n: usize, base_url: &str) -> io::Result<u64> {
    assert!(n <= 1_000_000_000, "phones are distinct up to 10^9 rows");
    for sub in ["campaigns", "audiences"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let settings = format!(
        "api: {{base_url: \"{base_url}\", customer_id: 61179, bot_key: bb67e0773bed4c7e, \
         api_key_env: ENGATI_API_KEY}}\nvars: {{brand: Renuka Sugars}}\n"
    );
    std::fs::write(dir.join("herald.yaml"), settings)?;
    std::fs::write(dir.join("campaigns").join("c.yaml"), CAMPAIGN_YAML)?;
    let path = dir.join("audiences").join("big.csv");
    let mut csv = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    csv.write_all(b"phone,first_name,invoice_no\n")?;
    let mut line = String::with_capacity(64);
    for i in 0..n as u64 {
        let phone = (i * 7_919 + 12_345) % 1_000_000_000;
        let name = FIRST_NAMES[(i as usize * 7 + i as usize / 24) % FIRST_NAMES.len()];
        line.clear();
        let _ = writeln!(line, "+919{phone:09},{name},{}", 10_000_000 + i);
        csv.write_all(line.as_bytes())?;
    }
    csv.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    Ok(path.metadata()?.len())
}

/// Where a benchmark keeps the project's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Backend {
    /// `.herald/state.db` in the project.
    Sqlite,
    /// A schema of its own on the server `HERALD_BENCH_POSTGRES_URL` (or
    /// `HERALD_TEST_POSTGRES_URL`, which `.ci/postgres` prints) names; dropped afterwards.
    Postgres,
}

/// A PostgreSQL schema for one benchmark project; dropped with it.
pub(crate) struct PostgresState {
    /// The server's URL.
    pub url: String,
    /// The schema.
    pub schema: String,
}

impl PostgresState {
    /// Points the project in `dir` at a fresh schema on the benchmark server.
    pub(crate) fn configure(dir: &Path) -> Result<PostgresState, String> {
        let (url, schema) = PostgresState::target()?;
        let settings = dir.join("herald.yaml");
        let mut text = std::fs::read_to_string(&settings).map_err(|e| e.to_string())?;
        text.push_str(&format!("state: {{backend: postgres, schema: {schema}}}\n"));
        std::fs::write(&settings, text).map_err(|e| e.to_string())?;
        Ok(PostgresState { url, schema })
    }
}

impl PostgresState {
    /// The benchmark server's URL and a fresh schema name on it.
    pub(crate) fn target() -> Result<(String, String), String> {
        let url = std::env::var("HERALD_BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("HERALD_TEST_POSTGRES_URL"))
            .map_err(|_| {
                "--state postgres needs a server: set HERALD_BENCH_POSTGRES_URL, or run \
                 `eval \"$(.ci/postgres)\"` first"
                    .to_owned()
            })?;
        Ok((url, format!("bench_{:016x}", fastrand::u64(..))))
    }
}

impl Drop for PostgresState {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}
