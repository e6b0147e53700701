//! What a feature costs a big plan: `herald plan` of one template campaign to a CSV of N
//! recipients (default 1,000,000), without the feature and with it on.
//!
//! - `--feature rails` (default): `safety.max_sends`, `safety.max_changed_share`, the
//!   campaign's own `max_sends`, and `suppress:` of an audience listing every tenth recipient
//!   (100,000 of a million). The plan with rails must send to exactly the recipients not
//!   suppressed.
//! - `--feature window`: a send window in each recipient's local time (`09:00-20:00`, Monday
//!   to Saturday) and herald.yaml's `timezone:`. Both projects' recipients are spread over
//!   nine countries, one in ten with a `timezone` column of their own; at the plan's time some
//!   windows are open and some closed, so the windowed plan must both send and hold back.
//! - `--feature time`: time and money together: that window, `frequency_cap` (one marketing
//!   message a week), `api.messaging_limit` (a tenth of the audience: 100,000 of a million)
//!   and the example's rate card. Both
//!   projects are spread over the nine countries and share a state holding earlier sends of
//!   another campaign: half the recipients three days ago, one in twenty two hours ago. The plan
//!   with the features must send some, hold some back for their window, cap some and leave
//!   some for the next wave (target ≤ 1.25).
//!
//! ```text
//! cargo build --release && cargo run --release --example bench_rails
//! cargo run --release --example bench_rails -- --feature window --recipients 100000 --runs 3
//! cargo run --release --example bench_rails -- --feature time --runs 7
//! ```
//!
//! Runs alternate between the two projects (so drift on the machine hits both alike); the
//! median of each and their ratio are printed. Not part of `cargo test`.

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
use herald::state::sqlite::SqliteStore;
use herald::state::{Delivery, Outcome, Store};

/// The plans' time: before the campaign's schedule, as bench_plan's.
const NOW: &str = "2026-11-25T00:00:00Z";
/// The windowed plans' time: Wednesday, 15:30 in India, 10:00 in London, 05:00 in New York.
const WINDOW_NOW: &str = "2026-11-25T10:00:00Z";

/// Calling codes the windowed benchmark spreads recipients over (with the first digits of a
/// mobile number), each ten digits long with the row's own.
const COUNTRIES: [&str; 9] = [
    "+919", "+4479", "+1415", "+97150", "+6591", "+49151", "+5511", "+6141", "+8190",
];

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Feature {
    /// The safety rails: caps and a suppression list.
    Rails,
    /// A send window in each recipient's local time.
    Window,
    /// Windows, a frequency cap, the messaging limit and a rate card.
    Time,
}

/// What the plan with the feature must do.
enum Expect {
    /// Send exactly this many requests.
    Requests(u64),
    /// Send some, and hold some back for each of these reasons (counts of the totals).
    SomeHeld(&'static [&'static str]),
}

#[derive(Parser)]
struct Args {
    /// The feature to measure.
    #[arg(long, value_enum, default_value_t = Feature::Rails)]
    feature: Feature,
    /// Recipients in the audience; every tenth is suppressed.
    #[arg(long, default_value_t = 1_000_000)]
    recipients: usize,
    /// Timed runs of each project.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Keep the two projects (printing where) to profile them.
    #[arg(long)]
    keep: bool,
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
    let mut work = tempfile::tempdir().map_err(|e| e.to_string())?;
    if args.keep {
        work.disable_cleanup(true);
        eprintln!(
            "bench_rails: the projects are kept in {}",
            work.path().display()
        );
    }
    let plain = work.path().join("plain");
    let railed = work.path().join("rails");
    let n = args.recipients;
    for dir in [&plain, &railed] {
        large_project::generate(dir, n, large_project::ENGATI).map_err(|e| e.to_string())?;
    }
    let (now, expect, what, names) = match args.feature {
        Feature::Rails => {
            let suppressed = add_rails(&railed, n).map_err(|e| e.to_string())?;
            let what = format!("{} suppressed", thousands(suppressed));
            (
                NOW,
                Expect::Requests(n as u64 - suppressed),
                what,
                ["no rails", "rails on"],
            )
        }
        Feature::Window => {
            for dir in [&plain, &railed] {
                spread(dir).map_err(|e| e.to_string())?;
            }
            add_window(&railed).map_err(|e| e.to_string())?;
            let what = format!("{} countries", COUNTRIES.len());
            (
                WINDOW_NOW,
                Expect::SomeHeld(&["window_waiting"]),
                what,
                ["no window", "window on"],
            )
        }
        Feature::Time => {
            for dir in [&plain, &railed] {
                spread(dir).map_err(|e| e.to_string())?;
                earlier_sends(dir).map_err(|e| e.to_string())?;
            }
            add_window(&railed).map_err(|e| e.to_string())?;
            add_time_and_money(&railed, n).map_err(|e| e.to_string())?;
            let what = format!(
                "{} countries, window, frequency cap, messaging limit, rate card",
                COUNTRIES.len()
            );
            (
                WINDOW_NOW,
                Expect::SomeHeld(&["window_waiting", "capped", "wave_waiting"]),
                what,
                ["features off", "features on"],
            )
        }
    };
    let target = if args.feature == Feature::Time {
        1.25
    } else {
        1.10
    };
    let (mut without, mut with) = (Vec::new(), Vec::new());
    // One warm-up each, checked: without the feature everyone is sent.
    check(&herald, &plain, now, &Expect::Requests(n as u64))?;
    check(&herald, &railed, now, &expect)?;
    for _ in 0..args.runs {
        without.push(time(&herald, &plain, now)?);
        with.push(time(&herald, &railed, now)?);
    }
    without.sort();
    with.sort();
    let (a, b) = (median(&without), median(&with));
    println!(
        "herald plan of {} recipients ({what}), median of {} runs, on {}:",
        thousands(n as u64),
        args.runs,
        machine()
    );
    println!("| project | median | runs |");
    println!("|---|---:|---|");
    for (name, times, median) in [(names[0], &without, a), (names[1], &with, b)] {
        let all: Vec<String> = times.iter().map(|t| format!("{:.0}", ms(*t))).collect();
        println!("| {name} | {:.0} ms | {} ms |", ms(median), all.join(" / "));
    }
    let ratio = b.as_secs_f64() / a.as_secs_f64();
    println!(
        "{} / {}: {ratio:.3} ({}; target ≤ {target:.2})",
        names[1],
        names[0],
        if ratio <= target { "within" } else { "over" }
    );
    Ok(())
}

/// Rewrites the CSV's phones over [`COUNTRIES`] (the row's nine digits kept, so they stay
/// distinct) and gives every tenth recipient a `timezone` of their own.
fn spread(dir: &Path) -> std::io::Result<()> {
    let path = dir.join("audiences/big.csv");
    let text = std::fs::read_to_string(&path)?;
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("+919") else {
            writeln!(out, "{line},timezone")?;
            continue;
        };
        let country = COUNTRIES[i % COUNTRIES.len()];
        let zone = if i % 10 == 0 {
            "America/Los_Angeles"
        } else {
            ""
        };
        writeln!(out, "{country}{rest},{zone}")?;
    }
    out.flush()
}

/// Gives the campaign a window and the project a zone.
fn add_window(dir: &Path) -> std::io::Result<()> {
    let settings = dir.join("herald.yaml");
    let mut text = std::fs::read_to_string(&settings)?;
    text.push_str("timezone: Asia/Kolkata\n");
    std::fs::write(&settings, text)?;
    let campaign = dir.join("campaigns/c.yaml");
    let text = std::fs::read_to_string(&campaign)?.replacen(
        "    audience: {csv: ../audiences/big.csv}\n",
        "    audience: {csv: ../audiences/big.csv}\n    window: {hours: \"09:00-20:00\", days: [mon, tue, wed, thu, fri, sat]}\n",
        1,
    );
    std::fs::write(&campaign, text)
}

/// Records earlier sends of a campaign the project no longer has (so they count as
/// marketing): to every other recipient three days before the plan, and to one in twenty
/// two hours before it (half the messaging limit's places).
fn earlier_sends(dir: &Path) -> Result<(), String> {
    let now: jiff::Timestamp = WINDOW_NOW.parse().map_err(|e| format!("{e}"))?;
    let path = dir.join(herald::state::open::DEFAULT_STATE_PATH);
    std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(|e| e.to_string())?;
    let mut store = SqliteStore::open(&path).map_err(|e| e.to_string())?;
    let csv = std::fs::read_to_string(dir.join("audiences/big.csv")).map_err(|e| e.to_string())?;
    let mut batch = Vec::with_capacity(10_000);
    for (i, line) in csv.lines().skip(1).enumerate() {
        let at = if i % 20 == 1 {
            now - jiff::SignedDuration::from_hours(2)
        } else if i % 2 == 0 {
            now - jiff::SignedDuration::from_hours(72)
        } else {
            continue;
        };
        let phone = line.split(',').next().unwrap_or_default();
        batch.push(Delivery {
            campaign: "last-week".to_owned(),
            occurrence: None,
            recipient: phone.to_owned(),
            fingerprint: herald::fingerprint::Fingerprint::of(phone.as_bytes()),
            request: "{}".to_owned(),
            outcome: Outcome::Sent,
            api_code: None,
            detail: None,
            at,
            apply_id: "bench".to_owned(),
        });
        if batch.len() == batch.capacity() {
            record_as_apply(&mut store, &mut batch)?;
        }
    }
    record_as_apply(&mut store, &mut batch)?;
    drop(store);
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(|e| e.to_string())
}

/// Records `batch` as apply does (in flight, then the outcome: two history rows each) and
/// empties it.
fn record_as_apply(store: &mut SqliteStore, batch: &mut Vec<Delivery>) -> Result<(), String> {
    let in_flight: Vec<Delivery> = batch
        .iter()
        .map(|d| Delivery {
            outcome: Outcome::InFlight,
            ..d.clone()
        })
        .collect();
    store.record(&in_flight).map_err(|e| e.to_string())?;
    store.record(batch).map_err(|e| e.to_string())?;
    batch.clear();
    Ok(())
}

/// A frequency cap, a messaging limit of a tenth of the audience (100,000, a real tier, for a
/// million) and the example's rate card.
fn add_time_and_money(dir: &Path, n: usize) -> std::io::Result<()> {
    let settings = dir.join("herald.yaml");
    let text = std::fs::read_to_string(&settings)?.replacen(
        "api_key_env: ENGATI_API_KEY}",
        &format!(
            "api_key_env: ENGATI_API_KEY, messaging_limit: {}}}",
            (n / 10).max(1)
        ),
        1,
    );
    let text = format!(
        "{text}frequency_cap: {{max: 1, per: 7d, categories: [marketing]}}
pricing: pricing.yaml
"
    );
    std::fs::write(&settings, text)?;
    let card = Path::new(env!("CARGO_MANIFEST_DIR")).join("pricing.yaml");
    std::fs::copy(card, dir.join("pricing.yaml"))?;
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

fn plan(herald: &Path, dir: &Path, format: &str, now: &str) -> Command {
    let mut command = Command::new(herald);
    command
        .args(["plan", "--format", format, "--now", now, "--project"])
        .arg(dir)
        .env("NO_COLOR", "1");
    command
}

/// Plans once and checks it does what is `expected` (and is safe).
fn check(herald: &Path, dir: &Path, now: &str, expected: &Expect) -> Result<(), String> {
    let output = plan(herald, dir, "json", now)
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
    let count = |name: &str| -> u64 {
        let Some((_, rest)) = totals.split_once(&format!("\"{name}\":")) else {
            return 0;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or(0)
    };
    let (right, should) = match expected {
        Expect::Requests(n) => (count("requests") == *n, format!("send {n} requests")),
        Expect::SomeHeld(reasons) => (
            count("requests") > 0 && reasons.iter().all(|r| count(r) > 0),
            format!(
                "send some requests and hold some back ({})",
                reasons.join(", ")
            ),
        ),
    };
    if !right || text.contains("\n\"unsafe\"") {
        return Err(format!(
            "the plan of {} should {should} safely; its totals: {totals}",
            dir.display()
        ));
    }
    Ok(())
}

/// One timed plan, its human output to /dev/null (as bench_plan times it).
fn time(herald: &Path, dir: &Path, now: &str) -> Result<Duration, String> {
    let mut command = plan(herald, dir, "human", now);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    let status = command.status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("herald plan failed on {}", dir.display()));
    }
    Ok(started.elapsed())
}
