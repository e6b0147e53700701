//! State size benchmark: the bytes a delivery takes in state, SQLite and PostgreSQL.
//!
//! ```text
//! cargo run --release --example bench_state
//! cargo run --release --example bench_state -- --deliveries 1000000
//! eval "$(.ci/postgres)" && cargo run --release --example bench_state -- --state postgres
//! ```
//!
//! Records `--deliveries` deliveries through the `Store` API the way apply does: an intent
//! (`in_flight`) per recipient, committed in batches of 64 (apply's batch at
//! `--concurrency 64`), then each batch's outcomes (`sent`). The requests are the invoice
//! reminder campaign's (tests/fixtures/large: a document header, three body parameters, two
//! quick-reply buttons carrying the invoice number), rendered for distinct recipients. Then it
//! reports the state's size a delivery: the SQLite file (after a WAL checkpoint) or
//! `pg_total_relation_size` of every table of the schema (after `VACUUM ANALYZE`, which
//! leaves the size as it is but settles the visibility map), and how long the reads plan and
//! pacing make take.

#[path = "support/bench.rs"]
mod bench;
#[path = "support/large_project.rs"]
mod large_project;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::{machine, thousands};
use clap::Parser;
use herald::fingerprint::Fingerprint;
use herald::state::postgres::PostgresStore;
use herald::state::sqlite::SqliteStore;
use herald::state::{Delivery, Outcome, Round, Store};
use large_project::Backend;

/// Measure the bytes a delivery takes in state.
#[derive(Debug, Parser)]
#[command(name = "bench_state")]
struct Args {
    /// Deliveries to record.
    #[arg(long, default_value_t = 100_000)]
    deliveries: u64,
    /// Intents (and outcomes) recorded a batch.
    #[arg(long, default_value_t = 64)]
    batch: u64,
    /// Where state lives.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    state: Backend,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_state: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The invoice reminder's request to the `i`-th recipient, as `Request::to_json` writes it.
fn request(phone: &str, name: &str, invoice: u64) -> String {
    format!(
        concat!(
            r#"{{"method":"POST","path":"/whatsapp-api/v1.0/customer/61179/bot/bb67e0773bed4c7e/template","query":[],"#,
            r#""body":{{"phoneNumber":"{phone}","payload":{{"name":"invoice_reminder","#,
            r#""namespace":"980c3243-2d2a-4d2d-a572-b2a50552cb04","language":{{"policy":"deterministic","code":"en"}},"#,
            r#""components":[{{"type":"header","parameters":[{{"type":"document","document":{{"#,
            r#""link":"https://cdn.renukasugars.example/inv/{invoice}.pdf","filename":"invoice-{invoice}.pdf"}}}}]}},"#,
            r#"{{"type":"body","parameters":[{{"type":"text","text":"{name}"}},{{"type":"text","text":"{invoice}"}},"#,
            r#"{{"type":"text","text":"Renuka Sugars"}}]}},"#,
            r#"{{"type":"button","sub_type":"quick_reply","index":0,"parameters":[{{"type":"payload","#,
            r#""payload":"flow_7bbb608c3b4b4e848f36cd2ccd7cfa35||data_invoice_no={invoice}||data_response=approved"}}]}},"#,
            r#"{{"type":"button","sub_type":"quick_reply","index":1,"parameters":[{{"type":"payload","#,
            r#""payload":"flow_e30d44bcca4c49d49976d3ac0416c405||data_invoice_no={invoice}||data_response=declined"}}]}}]}}}}}}"#,
        ),
        phone = phone,
        name = name,
        invoice = invoice,
    )
}

const NAMES: [&str; 8] = [
    "John", "Jahnavi", "Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Meera",
];

fn run(args: &Args) -> Result<(), String> {
    let dir = tempfile::TempDir::new().map_err(|e| e.to_string())?;
    let path = dir.path().join("state.db");
    let pg = match args.state {
        Backend::Sqlite => None,
        Backend::Postgres => Some(large_project::PostgresState::target()?),
    };
    let mut store: Box<dyn Store> = match &pg {
        None => Box::new(SqliteStore::open(&path).map_err(|e| e.to_string())?),
        Some((url, schema)) => {
            Box::new(PostgresStore::open(url, schema).map_err(|e| e.to_string())?)
        }
    };
    let campaign = "invoice-reminder";
    let at: jiff::Timestamp = "2026-12-01T03:30:00Z".parse().map_err(|e| format!("{e}"))?;
    let started = Instant::now();
    let mut request_bytes = 0u64;
    let mut i = 0;
    while i < args.deliveries {
        let n = args.batch.min(args.deliveries - i);
        let intents: Vec<Delivery> = (i..i + n)
            .map(|k| {
                let phone = format!("+919{:09}", (k * 7_919 + 12_345) % 1_000_000_000);
                let text = request(&phone, NAMES[(k % 8) as usize], 10_000_000 + k);
                request_bytes += text.len() as u64;
                Delivery {
                    campaign: campaign.to_owned(),
                    occurrence: None,
                    recipient: phone,
                    fingerprint: Fingerprint::of(text.as_bytes()),
                    request: text,
                    outcome: Outcome::InFlight,
                    api_code: None,
                    detail: None,
                    at: at + Duration::from_millis(k),
                    apply_id: "20261201T033000Z-4f2a".to_owned(),
                }
            })
            .collect();
        store.record(&intents).map_err(|e| e.to_string())?;
        let outcomes: Vec<Delivery> = intents
            .into_iter()
            .map(|d| Delivery {
                outcome: Outcome::Sent,
                api_code: Some(200),
                at: d.at + Duration::from_millis(150),
                ..d
            })
            .collect();
        store.record(&outcomes).map_err(|e| e.to_string())?;
        i += n;
    }
    let recorded_in = started.elapsed();
    drop(store);

    let (bytes, what) = match &pg {
        None => {
            // The WAL is folded into the file, so the file's size is the state's.
            let conn = rusqlite::Connection::open(&path).map_err(|e| e.to_string())?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| e.to_string())?;
            // Where the bytes are: each table and index (SQLite's dbstat), a delivery's share.
            let mut stmt = conn
                .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
                .map_err(|e| e.to_string())?;
            let parts = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(|e| e.to_string())?;
            for part in parts {
                let (name, bytes) = part.map_err(|e| e.to_string())?;
                if bytes > 100_000 {
                    println!(
                        "  {name}: {} B a delivery",
                        bytes as u64 / args.deliveries.max(1)
                    );
                }
            }
            drop(stmt);
            drop(conn);
            let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
            (size, "SQLite file".to_owned())
        }
        Some((url, schema)) => {
            let mut client =
                postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
            client
                .batch_execute("VACUUM ANALYZE")
                .map_err(|e| e.to_string())?;
            let row = client
                .query_one(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relkind = 'r'",
                    &[schema],
                )
                .map_err(|e| e.to_string())?;
            let size: i64 = row.get(0);
            // Where the bytes are: each table with its indexes and TOAST, a delivery's share.
            let parts = client
                .query(
                    "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid)
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 2 DESC",
                    &[schema],
                )
                .map_err(|e| e.to_string())?;
            for part in parts {
                let (name, table, indexes): (String, i64, i64) =
                    (part.get(0), part.get(1), part.get(2));
                if table + indexes > 100_000 {
                    println!(
                        "  {name}: table {} B, indexes {} B a delivery",
                        table as u64 / args.deliveries.max(1),
                        indexes as u64 / args.deliveries.max(1)
                    );
                }
            }
            // An update leaves the row it replaced behind until vacuumed, and later inserts
            // reuse that space. What the live rows take, compacted:
            let tables: Vec<String> = client
                .query(
                    "SELECT format('%I.%I', n.nspname, c.relname)
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relkind = 'r'",
                    &[schema],
                )
                .map_err(|e| e.to_string())?
                .iter()
                .map(|row| row.get(0))
                .collect();
            client
                .batch_execute(&format!("VACUUM FULL {}", tables.join(", ")))
                .map_err(|e| e.to_string())?;
            let live: i64 = client
                .query_one(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relkind = 'r'",
                    &[schema],
                )
                .map_err(|e| e.to_string())?
                .get(0);
            println!(
                "  after VACUUM FULL (live rows only): {} B a delivery",
                live as u64 / args.deliveries.max(1)
            );
            (size as u64, format!("PostgreSQL schema {schema}"))
        }
    };

    // The reads plan (every delivery of the round) and pacing (the attempts of 7 days) make.
    let store: Box<dyn Store> = match &pg {
        None => Box::new(SqliteStore::open_read_only(&path).map_err(|e| e.to_string())?),
        Some((url, schema)) => {
            Box::new(PostgresStore::open_read_only(url, schema).map_err(|e| e.to_string())?)
        }
    };
    let started = Instant::now();
    let mut visited = 0u64;
    store
        .recorded(Round::one_off(campaign), &mut |_, _| visited += 1)
        .map_err(|e| e.to_string())?;
    let plan_read = started.elapsed();
    let started = Instant::now();
    let mut contacts = 0u64;
    store
        .contacts_since(at, &mut |_| contacts += 1)
        .map_err(|e| e.to_string())?;
    let pacing_read = started.elapsed();
    if let Some((url, schema)) = &pg {
        drop(store);
        if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }

    println!("machine: {}", machine());
    println!(
        "{} deliveries recorded (intent + outcome, batches of {}) in {:.2?}; requests {} B each on average",
        thousands(args.deliveries),
        args.batch,
        recorded_in,
        request_bytes / args.deliveries.max(1)
    );
    println!(
        "{what}: {} bytes, {} B a delivery",
        thousands(bytes),
        bytes / args.deliveries.max(1)
    );
    println!(
        "reads: recorded() {} in {plan_read:.2?}; contacts_since() {} in {pacing_read:.2?}",
        thousands(visited),
        thousands(contacts)
    );
    Ok(())
}
