//! What the safety rails cost a big plan: `herald plan` of one template campaign to a CSV of
//! N recipients (default 1,000,000), without rails and with them on: `safety.max_sends`,
//! `safety.max_changed_share`, the campaign's own `max_sends`, and `suppress:` of an audience
//! listing every tenth recipient (100,000 of a million).
//!
//! ```text
//! cargo build --release && cargo run --release --example bench_rails
//! cargo run --release --example bench_rails -- --recipients 100000 --runs 3
//! ```
//!
//! Runs alternate between the two projects (so drift on the machine hits both alike); the
//! median of each and their ratio are printed. The plan with rails must send to exactly the
//! recipients not suppressed. Not part of `cargo test`.

#[path = "support/bench.rs"]
mod bench;
#[path = "support/large_project.rs"]
mod large_project;

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bench::{default_herald, machine, median, ms, thousands, warn_if_stale};
use clap::Parser;

/// The plans' time: before the campaign's schedule, as bench_plan's.
const NOW: &str = "2026-11-25T00:00:00Z";

#[derive(Parser)]
struct Args {
    /// Recipients in the audience; every tenth is suppressed.
    #[arg(long, default_value_t = 1_000_000)]
    recipients: usize,
    /// Timed runs of each project.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_rails: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let herald = default_herald("bench_rails")?;
    warn_if_stale(&herald);
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let plain = work.path().join("plain");
    let railed = work.path().join("rails");
    let n = args.recipients;
    for dir in [&plain, &railed] {
        large_project::generate(dir, n, large_project::ENGATI).map_err(|e| e.to_string())?;
    }
    let suppressed = add_rails(&railed, n).map_err(|e| e.to_string())?;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    // One warm-up each, checked: the rails must leave out exactly the suppressed.
    check(&herald, &plain, n as u64)?;
    check(&herald, &railed, n as u64 - suppressed)?;
    for _ in 0..args.runs {
        without.push(time(&herald, &plain)?);
        with.push(time(&herald, &railed)?);
    }
    without.sort();
    with.sort();
    let (a, b) = (median(&without), median(&with));
    println!(
        "herald plan of {} recipients ({} suppressed), median of {} runs, on {}:",
        thousands(n as u64),
        thousands(suppressed),
        args.runs,
        machine()
    );
    println!("| project | median | runs |");
    println!("|---|---:|---|");
    for (name, times, median) in [("no rails", &without, a), ("rails on", &with, b)] {
        let all: Vec<String> = times.iter().map(|t| format!("{:.0}", ms(*t))).collect();
        println!("| {name} | {:.0} ms | {} ms |", ms(median), all.join(" / "));
    }
    let ratio = b.as_secs_f64() / a.as_secs_f64();
    println!(
        "rails on / no rails: {ratio:.3} ({}; target ≤ 1.10)",
        if ratio <= 1.10 { "within" } else { "over" }
    );
    Ok(())
}

/// Turns on every rail: caps that this plan keeps within, and an opt-out audience of every
/// tenth recipient of the CSV. Returns how many are suppressed.
fn add_rails(dir: &Path, n: usize) -> std::io::Result<u64> {
    let settings = dir.join("herald.yaml");
    let mut text = std::fs::read_to_string(&settings)?;
    text.push_str(&format!(
        "safety: {{max_sends: {}, max_changed_share: 0.3, late_after: 1h}}\nsuppress: [optouts]\n",
        n * 2
    ));
    std::fs::write(&settings, text)?;
    let campaign = dir.join("campaigns/c.yaml");
    let text = std::fs::read_to_string(&campaign)?;
    let text = text.replacen(
        "    audience: {csv: ../audiences/big.csv}\n",
        &format!(
            "    audience: {{csv: ../audiences/big.csv}}\n    max_sends: {}\n",
            n * 2
        ),
        1,
    );
    std::fs::write(&campaign, text)?;
    std::fs::write(
        dir.join("campaigns/optouts.yaml"),
        "audiences:\n  optouts:\n    csv: ../audiences/optouts.csv\n",
    )?;
    let rows = BufReader::new(std::fs::File::open(dir.join("audiences/big.csv"))?);
    let mut out = BufWriter::new(std::fs::File::create(dir.join("audiences/optouts.csv"))?);
    writeln!(out, "phone")?;
    let mut suppressed = 0;
    for (i, line) in rows.lines().skip(1).enumerate() {
        let line = line?;
        if i % 10 == 0 {
            let phone = line.split(',').next().unwrap_or_default();
            writeln!(out, "{phone}")?;
            suppressed += 1;
        }
    }
    out.flush()?;
    Ok(suppressed)
}

fn plan(herald: &Path, dir: &Path, format: &str) -> Command {
    let mut command = Command::new(herald);
    command
        .args(["plan", "--format", format, "--now", NOW, "--project"])
        .arg(dir)
        .env("NO_COLOR", "1");
    command
}

/// Plans once and checks it sends `expected` requests (and is safe).
fn check(herald: &Path, dir: &Path, expected: u64) -> Result<(), String> {
    let output = plan(herald, dir, "json")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", herald.display()))?;
    if !output.status.success() {
        return Err(format!(
            "herald plan failed on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout)
                .chars()
                .take(2000)
                .collect::<String>()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let totals = text
        .lines()
        .rev()
        .find(|l| l.starts_with("\"counts\":"))
        .unwrap_or_default();
    if !totals.contains(&format!("\"requests\":{expected}")) || text.contains("\n\"unsafe\"") {
        return Err(format!(
            "the plan of {} should send {expected} requests safely; its totals: {totals}",
            dir.display()
        ));
    }
    Ok(())
}

/// One timed plan, its human output to /dev/null (as bench_plan times it).
fn time(herald: &Path, dir: &Path) -> Result<Duration, String> {
    let mut command = plan(herald, dir, "human");
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    let status = command.status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("herald plan failed on {}", dir.display()));
    }
    Ok(started.elapsed())
}
