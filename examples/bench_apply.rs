//! Send-rate benchmark of `herald apply` against the emulator on loopback.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench_apply
//! cargo run --release --example bench_apply -- --recipients 20000 --runs 1
//! eval "$(.ci/postgres)" && cargo run --release --example bench_apply -- --state postgres
//! ```
//!
//! 1. Throughput: for each run, a fresh project (the invoice reminder campaign to a CSV of
//!    `--recipients`), a fresh emulator in this process, `herald plan --out plan.json`, then
//!    `herald apply plan.json --concurrency 64` with no rate limit, timed (wall, process start
//!    and plan file reading included; state journaling on). One more run under GNU time gives
//!    the peak RSS.
//! 2. Rate limit: `--rate-recipients` sends with `--rate 80`; the rate is measured from the
//!    emulator's arrival times (first to last request), so start-up does not count.
//!
//! Targets: at least 5,000 sends/s with SQLite state (issue 5), 3,000 with PostgreSQL state
//! (`--state postgres`, issue 6); the limited rate within 5% of 80/s.

#[path = "support/bench.rs"]
mod bench;
#[path = "support/large_project.rs"]
mod large_project;

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bench::{default_herald, gnu_time, machine, median, peak_rss_with, rss_mib, thousands};
use clap::Parser;
use herald::emulator::{self, BUILTIN_API_KEY, Running, Seed};
use large_project::{Backend, PostgresState};

/// Time `herald apply` against the emulator.
#[derive(Debug, Parser)]
#[command(name = "bench_apply")]
struct Args {
    /// Recipients per throughput run.
    #[arg(long, default_value_t = 100_000)]
    recipients: usize,
    /// Throughput runs.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The limited rate to check, per second.
    #[arg(long, default_value_t = 80.0)]
    rate: f64,
    /// Sends in the rate-limited run.
    #[arg(long, default_value_t = 800)]
    rate_recipients: usize,
    /// Where state lives.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    state: Backend,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_apply: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A generated project and the emulator it sends to.
struct Setup {
    dir: tempfile::TempDir,
    /// Runs the emulator; dropping it stops the emulator.
    _runtime: tokio::runtime::Runtime,
    emulator: Running,
    /// With `--state postgres`, the project's schema (dropped with the setup).
    postgres: Option<PostgresState>,
}

impl Setup {
    fn new(recipients: usize, backend: Backend) -> Result<Setup, String> {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        let emulator = runtime
            .block_on(emulator::start(emulator::Config::local(Seed::builtin())))
            .map_err(|e| format!("the emulator does not start: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        large_project::generate(dir.path(), recipients, &emulator.base_url())
            .map_err(|e| format!("cannot write the project: {e}"))?;
        let postgres = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PostgresState::configure(dir.path())?),
        };
        Ok(Setup {
            dir,
            _runtime: runtime,
            emulator,
            postgres,
        })
    }

    /// Runs in the project, with the key and the state's URL.
    fn configure(&self, command: &mut Command) {
        command
            .current_dir(self.dir.path())
            .env("ENGATI_API_KEY", BUILTIN_API_KEY);
        if let Some(pg) = &self.postgres {
            command.env("HERALD_STATE_URL", &pg.url);
        }
    }

    fn herald(&self, herald: &Path, args: &[&str]) -> Result<Duration, String> {
        let started = Instant::now();
        let mut command = Command::new(herald);
        self.configure(&mut command);
        let output = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "herald {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(started.elapsed())
    }

    fn sent(&self) -> usize {
        self.emulator.counts().values().sum::<u64>() as usize
    }
}

fn run(args: &Args) -> Result<(), String> {
    let herald = default_herald("bench_apply")?;
    let concurrency = args.concurrency.to_string();
    let apply = ["apply", "plan.json", "--concurrency", concurrency.as_str()];
    let mut times = Vec::new();
    for run in 0..args.runs {
        let setup = Setup::new(args.recipients, args.state)?;
        setup.herald(&herald, &["plan", "--out", "plan.json"])?;
        let took = setup.herald(&herald, &apply)?;
        if setup.sent() != args.recipients {
            return Err(format!("sent {} of {}", setup.sent(), args.recipients));
        }
        eprintln!(
            "run {}: {} sends in {:.2} s, {:.0}/s",
            run + 1,
            args.recipients,
            took.as_secs_f64(),
            args.recipients as f64 / took.as_secs_f64()
        );
        times.push(took);
    }
    times.sort();
    let rss = gnu_time().and_then(|time| {
        let setup = Setup::new(args.recipients, args.state).ok()?;
        setup
            .herald(&herald, &["plan", "--out", "plan.json"])
            .ok()?;
        let report = setup.dir.path().join("time.txt");
        let args: Vec<&std::ffi::OsStr> = apply.iter().map(std::convert::AsRef::as_ref).collect();
        peak_rss_with(time, &report, &herald, &args, |command| {
            setup.configure(command);
        })
    });

    // The rate limit, measured where it matters: at the server.
    let setup = Setup::new(args.rate_recipients, args.state)?;
    setup.herald(&herald, &["plan", "--out", "plan.json"])?;
    let rate = args.rate.to_string();
    setup.herald(&herald, &["apply", "plan.json", "--rate", rate.as_str()])?;
    let arrivals: Vec<jiff::Timestamp> = setup
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.received_at.parse().ok())
        .collect();
    let (Some(first), Some(last)) = (arrivals.iter().min(), arrivals.iter().max()) else {
        return Err("the rate-limited run sent nothing".to_owned());
    };
    let span = last.duration_since(*first).as_secs_f64();
    let measured = (arrivals.len() - 1) as f64 / span;

    let median = median(&times);
    let per_second = args.recipients as f64 / median.as_secs_f64();
    println!();
    println!(
        "`herald apply` to the emulator on loopback (same machine), {} state, release build, \
         --concurrency {}; machine: {}",
        match args.state {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL (same machine)",
        },
        args.concurrency,
        machine()
    );
    println!();
    println!("| sends | runs | median wall | sends/s | peak RSS |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.2} s | {per_second:.0} | {} MiB |",
        thousands(args.recipients as u64),
        args.runs,
        median.as_secs_f64(),
        rss_mib(rss)
    );
    println!();
    println!(
        "--rate {}: {} sends arrived over {span:.2} s: {measured:.2}/s ({:+.2}% from the limit)",
        args.rate,
        arrivals.len(),
        (measured / args.rate - 1.0) * 100.0
    );
    println!();
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    let target = match args.state {
        Backend::Sqlite => 5_000.0,
        Backend::Postgres => 3_000.0,
    };
    println!(
        "- {} at least {} sends/s: {per_second:.0}/s",
        mark(per_second >= target),
        thousands(target as u64)
    );
    println!(
        "- {} --rate {} within 5%: {measured:.2}/s",
        mark((measured / args.rate - 1.0).abs() <= 0.05),
        args.rate
    );
    Ok(())
}
