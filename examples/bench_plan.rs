//! Wall-time and peak-memory benchmark of `herald plan` on one template campaign to a CSV
//! audience of growing size, against an empty state and against a state that already holds
//! every recipient as sent.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench_plan
//! cargo run --release --example bench_plan -- --sizes 10000,100000 --runs 3 --keep
//! eval "$(.ci/postgres)" && cargo run --release --example bench_plan -- --state postgres
//! ```
//!
//! For each size N it writes a project under the system temp directory: herald.yaml, the
//! `invoice_reminder` template and an `invoice-reminder` campaign (document header, three body
//! slots, two flow buttons, the shape of the repo's campaigns/invoice-reminders.yaml) whose
//! audience is a CSV of N distinct recipients. Then, with the *release* herald binary:
//!
//! 1. empty state: one warm-up `herald plan --out plan.json`, whose plan must send to all N;
//!    then `--runs` timed runs (human output to /dev/null) and one run under GNU `/usr/bin/time`
//!    for peak RSS, when it is installed;
//! 2. `herald validate` on the same project, timed, to split plan time into load + validate
//!    (which reads the CSV) and render + diff;
//! 3. full state: every action of plan.json is recorded as sent in the state (`.herald/state.db`,
//!    synced to disk, or with `--state postgres` a fresh schema on a PostgreSQL server; not timed
//!    as part of plan); one warm-up `herald plan --format json`,
//!    whose plan must have all N unchanged and nothing else; then timed runs and a peak-RSS run
//!    as for the empty state.
//!
//! It prints a markdown table, the growth between sizes and the issue's targets for 1,000,000
//! recipients. Not part of `cargo test`.

#[path = "support/bench.rs"]
mod bench;
#[path = "support/large_project.rs"]
mod large_project;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bench::{default_herald, gnu_time, machine, median, ms, rss_mib, thousands, warn_if_stale};
use clap::Parser;
use herald::plan::{file, json};
use herald::state::{Access, Delivery, Location, Outcome};
use large_project::{Backend, PostgresState};

/// The plan's time (`--now`): the campaign has no schedule, so it is due.
const NOW: &str = "2026-11-25T00:00:00Z";
/// The issue's targets are for this many recipients.
const HEADLINE: usize = 1_000_000;
/// Wall time target, for both states, with SQLite state (issue 4).
const TARGET_WALL: Duration = Duration::from_secs(3);
/// Wall time target with PostgreSQL state (issue 6).
const TARGET_WALL_POSTGRES: Duration = Duration::from_secs(5);
/// Peak RSS target for the empty state: 1 GB, in KiB as GNU time reports it.
const TARGET_RSS_KIB: u64 = 1_000_000_000 / 1024;
/// Growth exponent (time ~ recipients^k) between the two largest sizes counted as linear.
const LINEAR_EXPONENT: f64 = 1.15;
/// Deliveries recorded per state transaction when building the full state.
const RECORD_BATCH: usize = 10_000;

/// Time `herald plan` on a template campaign to a large CSV audience.
#[derive(Debug, Parser)]
#[command(name = "bench_plan")]
struct Args {
    /// Audience sizes, in recipients.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<usize>,
    /// Timed runs per size and state (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The herald binary. Default: target/release/herald next to this example.
    #[arg(long)]
    herald: Option<PathBuf>,
    /// Keep the generated projects (their directory is printed).
    #[arg(long)]
    keep: bool,
    /// Where state lives.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    state: Backend,
}

/// The state a plan was timed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No state file: every recipient is `send`.
    Empty,
    /// Every recipient recorded as sent with the current fingerprint: all `unchanged`.
    Full,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Empty => "empty",
            State::Full => "all sent",
        }
    }
}

/// The timings of one size in one state.
struct Row {
    recipients: usize,
    state: State,
    times: Vec<Duration>,
    rss_kib: Option<u64>,
}

/// What else was measured for one size.
struct Extra {
    recipients: usize,
    csv_mib: f64,
    plan_file_mib: f64,
    validate: Option<Duration>,
    record: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_plan: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.runs == 0 || args.sizes.is_empty() || args.sizes.contains(&0) {
        return Err("--runs and every size in --sizes must be at least 1".to_owned());
    }
    let herald = match &args.herald {
        Some(path) => path.clone(),
        None => default_herald("bench_plan")?,
    };
    if !herald.is_file() {
        return Err(format!(
            "{} does not exist; build it first with `cargo build --release`",
            herald.display()
        ));
    }
    warn_if_stale(&herald);
    // This example links the library too: it writes the full state with it.
    if let Ok(exe) = std::env::current_exe() {
        bench::warn_if_older_than_src(&exe, "cargo build --release --examples");
    }
    let time = gnu_time();
    if time.is_none() {
        eprintln!("note: /usr/bin/time (GNU time) is not installed; peak RSS is not measured");
    }

    let work = std::env::temp_dir().join(format!("herald-bench-plan-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    eprintln!("herald: {}", herald.display());
    eprintln!("projects: {}", work.display());

    let mut rows = Vec::new();
    let mut extras = Vec::new();
    let result = (|| {
        for &n in &args.sizes {
            let (empty, full, extra) = bench_one(args, &herald, time, &work, n)?;
            rows.push(empty);
            rows.push(full);
            extras.push(extra);
        }
        Ok::<(), String>(())
    })();
    if args.keep {
        eprintln!("kept the projects in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result?;

    print_report(args, &rows, &extras);
    Ok(())
}

fn bench_one(
    args: &Args,
    herald: &Path,
    time: Option<&Path>,
    work: &Path,
    n: usize,
) -> Result<(Row, Row, Extra), String> {
    let dir = work.join(format!("n{n}"));
    let started = Instant::now();
    let csv_bytes = large_project::generate(&dir, n, large_project::ENGATI)
        .map_err(|e| format!("cannot generate {}: {e}", dir.display()))?;
    let csv_mib = csv_bytes as f64 / 1024.0 / 1024.0;
    let postgres = match args.state {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PostgresState::configure(&dir)?),
    };
    let pg = postgres.as_ref();
    eprintln!(
        "N={n}: generated the project ({csv_mib:.1} MiB of CSV) in {:.0?}",
        started.elapsed()
    );

    // Empty state. The warm-up also saves the plan, which the full state is built from.
    let plan_file = dir.join("plan.json");
    let mut warm_up = plan(herald, &dir, pg);
    warm_up.arg("--out").arg(&plan_file);
    let output = run_checked(warm_up, &dir)?;
    let document = file::read(&plan_file).map_err(|e| format!("{}\n{}", e.message, e.help))?;
    let plan_file_mib = file_mib(&plan_file);
    let actions: usize = document.campaigns.iter().map(|c| c.actions.len()).sum();
    let counts = &document.counts;
    if counts.send != n as u64 || counts.requests != n as u64 || actions != n {
        return Err(format!(
            "the plan of {} against an empty state should send to all {n} recipients; it has \
             {actions} actions and counts {counts:?}",
            dir.display()
        ));
    }
    // The human output has a line with the count and `send` (e.g. `Plan: 1000 to send ...`).
    let human = String::from_utf8_lossy(&output.stdout);
    let count = [n.to_string(), thousands(n as u64)];
    let counted = human.lines().any(|line| {
        line.contains("send")
            && line
                .split(|c: char| !c.is_ascii_digit() && c != ',')
                .any(|word| count.iter().any(|c| c == word))
    });
    if !counted {
        return Err(format!(
            "the human output of `herald plan` on {} has no line with {n} and `send`:\n{}",
            dir.display(),
            human.chars().take(4000).collect::<String>()
        ));
    }
    let empty = time_plan(args, herald, time, &dir, n, State::Empty, pg)?;

    // Load + validate alone (which reads and checks the CSV): the rest of plan time is
    // rendering, fingerprinting, the state lookup and output.
    let validate = time_validate(herald, &dir, args.runs.min(3));

    // Full state: every planned delivery recorded as sent.
    let started = Instant::now();
    let recorded = record_all(&dir, &document, pg)?;
    drop(document);
    let record = started.elapsed();
    eprintln!("N={n}: recorded {recorded} deliveries as sent in {record:.1?}");
    if !args.keep {
        let _ = std::fs::remove_file(&plan_file);
    }

    let mut warm_up = plan(herald, &dir, pg);
    warm_up.args(["--format", "json"]);
    let output = run_checked(warm_up, &dir)?;
    let text = String::from_utf8_lossy(&output.stdout);
    let document = json::parse(&text).map_err(|e| {
        format!(
            "`herald plan --format json` on {} printed no plan: {}\n{}",
            dir.display(),
            e.message,
            text.chars().take(4000).collect::<String>()
        )
    })?;
    let counts = &document.counts;
    if counts.unchanged != n as u64 || counts.send != 0 || counts.has_changes() {
        return Err(format!(
            "the plan of {} against a state holding every recipient as sent should have all \
             {n} unchanged and nothing else; it counts {counts:?}",
            dir.display()
        ));
    }
    let full = time_plan(args, herald, time, &dir, n, State::Full, pg)?;

    let extra = Extra {
        recipients: n,
        csv_mib,
        plan_file_mib,
        validate,
        record,
    };
    Ok((empty, full, extra))
}

/// `herald plan` on the project at the fixed time.
fn plan(herald: &Path, dir: &Path, postgres: Option<&PostgresState>) -> Command {
    let mut command = Command::new(herald);
    command.args(plan_args(dir)).env("NO_COLOR", "1");
    if let Some(pg) = postgres {
        command.env("HERALD_STATE_URL", &pg.url);
    }
    command
}

fn plan_args(dir: &Path) -> Vec<OsString> {
    vec![
        "plan".into(),
        "--project".into(),
        dir.into(),
        "--now".into(),
        NOW.into(),
    ]
}

/// Runs a command to the end; an error, with its output, unless it exits 0.
fn run_checked(mut command: Command, dir: &Path) -> Result<std::process::Output, String> {
    let output = command.output().map_err(|e| {
        format!(
            "cannot run {}: {e}",
            Path::new(command.get_program()).display()
        )
    })?;
    if !output.status.success() {
        return Err(format!(
            "`herald {}` failed on {} ({}):\n{}{}",
            command
                .get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout)
                .chars()
                .take(4000)
                .collect::<String>(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output)
}

/// `--runs` timed runs of `herald plan` (output to /dev/null), then one under GNU time.
fn time_plan(
    args: &Args,
    herald: &Path,
    time: Option<&Path>,
    dir: &Path,
    n: usize,
    state: State,
    postgres: Option<&PostgresState>,
) -> Result<Row, String> {
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let mut command = plan(herald, dir, postgres);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let started = Instant::now();
        let output = command
            .output()
            .map_err(|e| format!("cannot run {}: {e}", herald.display()))?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            return Err(format!(
                "herald plan failed on {} ({}):\n{}",
                dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        times.push(elapsed);
    }
    times.sort();
    let rss_kib = time.and_then(|t| {
        let args = plan_args(dir);
        let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
        bench::peak_rss_with(t, &dir.join("time.out"), herald, &args, |command| {
            if let Some(pg) = postgres {
                command.env("HERALD_STATE_URL", &pg.url);
            }
        })
    });
    eprintln!(
        "N={n}, {} state: median {:.1} ms over {} runs, peak RSS {} MiB",
        state.as_str(),
        ms(median(&times)),
        times.len(),
        rss_mib(rss_kib)
    );
    Ok(Row {
        recipients: n,
        state,
        times,
        rss_kib,
    })
}

/// The median of `runs` runs of `herald validate` after a warm-up; `None` (with a note) when it
/// does not exit 0.
fn time_validate(herald: &Path, dir: &Path, runs: usize) -> Option<Duration> {
    let validate = || {
        let mut command = Command::new(herald);
        command
            .arg("validate")
            .arg("--project")
            .arg(dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let started = Instant::now();
        let status = validate().status();
        let elapsed = started.elapsed();
        if !status.as_ref().is_ok_and(std::process::ExitStatus::success) {
            eprintln!(
                "note: herald validate did not succeed on {} ({status:?}); not timed",
                dir.display()
            );
            return None;
        }
        if i > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    Some(median(&times))
}

/// Records every action of the plan as sent, in batches; returns how many.
fn record_all(
    dir: &Path,
    document: &json::Document,
    postgres: Option<&PostgresState>,
) -> Result<usize, String> {
    let path = dir.join(herald::state::open::DEFAULT_STATE_PATH);
    let location = match postgres {
        Some(pg) => Location::Postgres {
            url: pg.url.clone(),
            schema: pg.schema.clone(),
        },
        None => Location::Sqlite(path.clone()),
    };
    let mut store = location
        .open(Access::Write)
        .map_err(|e| format!("{e}\nhelp: {}", e.help()))?;
    let at = jiff::Timestamp::now();
    let mut recorded = 0;
    for campaign in &document.campaigns {
        for chunk in campaign.actions.chunks(RECORD_BATCH) {
            let batch: Vec<Delivery> = chunk
                .iter()
                .map(|action| Delivery {
                    campaign: campaign.campaign.name.clone(),
                    occurrence: campaign.campaign.occurrence,
                    recipient: action.recipient.clone(),
                    fingerprint: action.fingerprint,
                    request: action.request.to_json(),
                    outcome: Outcome::Sent,
                    api_code: None,
                    detail: None,
                    at,
                    apply_id: "bench".into(),
                })
                .collect();
            store
                .record(&batch)
                .map_err(|e| format!("{e}\nhelp: {}", e.help()))?;
            recorded += batch.len();
        }
    }
    drop(store);
    if postgres.is_some() {
        return Ok(recorded);
    }
    // Write the state out before timing plans against it: otherwise the kernel flushes the
    // setup's gigabyte of writes during the timed runs, and they measure that.
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", path.display()))?;
    Ok(recorded)
}

fn file_mib(path: &Path) -> f64 {
    path.metadata()
        .map_or(0.0, |m| m.len() as f64 / 1024.0 / 1024.0)
}

fn print_report(args: &Args, rows: &[Row], extras: &[Extra]) {
    println!();
    println!(
        "`herald plan`, one template campaign to a CSV audience, {} state, release build, {} \
         timed runs after 1 warm-up; machine: {}",
        match args.state {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        },
        args.runs,
        machine()
    );
    println!();
    println!(
        "| recipients | state | median wall ms | min ms | max ms | µs per recipient | peak RSS MiB |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let median = ms(median(&row.times));
        println!(
            "| {} | {} | {median:.1} | {:.1} | {:.1} | {:.2} | {} |",
            thousands(row.recipients as u64),
            row.state.as_str(),
            ms(row.times[0]),
            ms(row.times[row.times.len() - 1]),
            median * 1000.0 / row.recipients as f64,
            rss_mib(row.rss_kib),
        );
    }
    println!();

    // Linearity: time per recipient between consecutive sizes, and the exponent k in
    // time ~ recipients^k (1.00 is linear; below 1 while fixed start-up costs still show).
    for state in [State::Empty, State::Full] {
        let of_state: Vec<&Row> = rows.iter().filter(|r| r.state == state).collect();
        for pair in of_state.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.recipients <= a.recipients {
                continue;
            }
            let (ta, tb) = (ms(median(&a.times)), ms(median(&b.times)));
            let growth = b.recipients as f64 / a.recipients as f64;
            let (pa, pb) = (ta / a.recipients as f64, tb / b.recipients as f64);
            println!(
                "{} state, {} -> {} recipients: time x{:.2} for recipients x{growth:.1}; \
                 time per recipient x{:.2} ({:.2} -> {:.2} µs; exponent {:.2}, 1.00 is linear)",
                state.as_str(),
                thousands(a.recipients as u64),
                thousands(b.recipients as u64),
                tb / ta,
                pb / pa,
                pa * 1000.0,
                pb * 1000.0,
                (tb / ta).ln() / growth.ln(),
            );
        }
    }
    println!();

    println!(
        "| recipients | CSV MiB | plan file MiB | `herald validate` median ms | plan (empty) median ms | \
         plan - validate ms | recording all as sent (setup) ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for extra in extras {
        let plan = rows
            .iter()
            .find(|r| r.recipients == extra.recipients && r.state == State::Empty)
            .map(|r| ms(median(&r.times)));
        let validate = extra.validate.map(ms);
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"));
        println!(
            "| {} | {:.1} | {:.1} | {} | {} | {} | {:.0} |",
            thousands(extra.recipients as u64),
            extra.csv_mib,
            extra.plan_file_mib,
            show(validate),
            show(plan),
            show(plan.zip(validate).map(|(p, v)| p - v)),
            ms(extra.record),
        );
    }
    println!();

    println!("targets for {} recipients:", thousands(HEADLINE as u64));
    let target = match args.state {
        Backend::Sqlite => TARGET_WALL,
        Backend::Postgres => TARGET_WALL_POSTGRES,
    };
    let find = |state: State| {
        rows.iter()
            .find(|r| r.recipients == HEADLINE && r.state == state)
    };
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    match find(State::Empty) {
        Some(row) => {
            let median = median(&row.times);
            println!(
                "- {} empty state in under {} s: median {:.2} s",
                mark(median < target),
                target.as_secs(),
                median.as_secs_f64()
            );
            match row.rss_kib {
                Some(kib) => println!(
                    "- {} empty state under 1 GB peak memory: {:.0} MiB ({:.2} GB)",
                    mark(kib < TARGET_RSS_KIB),
                    kib as f64 / 1024.0,
                    kib as f64 * 1024.0 / 1e9
                ),
                None => println!("- ? empty state under 1 GB peak memory: not measured"),
            }
        }
        None => println!("- ? empty state: not measured (add {HEADLINE} to --sizes)"),
    }
    match find(State::Full) {
        Some(row) => {
            let median = median(&row.times);
            println!(
                "- {} all sent (no changes) in under {} s: median {:.2} s (peak RSS {} MiB)",
                mark(median < target),
                target.as_secs(),
                median.as_secs_f64(),
                rss_mib(row.rss_kib)
            );
        }
        None => println!("- ? all sent: not measured (add {HEADLINE} to --sizes)"),
    }
    for state in [State::Empty, State::Full] {
        let mut of_state: Vec<&Row> = rows.iter().filter(|r| r.state == state).collect();
        of_state.sort_by_key(|r| r.recipients);
        of_state.dedup_by_key(|r| r.recipients);
        let [.., a, b] = of_state[..] else {
            println!(
                "- ? {} state grows linearly: needs two sizes",
                state.as_str()
            );
            continue;
        };
        let (ta, tb) = (ms(median(&a.times)), ms(median(&b.times)));
        let k = (tb / ta).ln() / (b.recipients as f64 / a.recipients as f64).ln();
        println!(
            "- {} {} state grows linearly: exponent {k:.2} from {} to {} recipients \
             (at most {LINEAR_EXPONENT:.2} counts as linear)",
            mark(k <= LINEAR_EXPONENT),
            state.as_str(),
            thousands(a.recipients as u64),
            thousands(b.recipients as u64),
        );
    }
}
