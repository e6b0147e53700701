//! The scale benchmark: what herald keeps and carries for large campaigns, as one table.
//!
//! ```text
//! cargo build --release && cargo build --release --examples
//! ./target/release/examples/bench_scale                     # every figure, 3 runs each
//! ./target/release/examples/bench_scale --runs 5 --big 2000000 --keep
//! ```
//!
//! Each figure runs the release herald on a generated project, `--runs` times (a median), plus
//! once under GNU time for the peak RSS:
//!
//! 1. **plan file**: `herald plan --out` of the invoice reminder (a document header, three body
//!    parameters, two flow buttons; examples/support/large_project.rs) to 1,000,000
//!    recipients: bytes a recipient;
//! 2. **against a script**: the same plan and examples/naive_plan.py (reads the CSV, writes each
//!    recipient's request as JSON) on the same CSV, their runs alternating: herald's median
//!    over the script's;
//! 3. **`--big` recipients** (10,000,000): `herald plan --out`, time and peak RSS; `--big-only`
//!    measures this one alone;
//! 4. **diff**: `herald diff --base HEAD` after every recipient's name changed in the CSV
//!    (1,000,000 changed recipients); `--diff-only` measures this one alone;
//! 5. **many campaigns**: `herald plan` of examples/support/project_gen.rs's project of
//!    `--campaigns` files (50,000), one campaign and one recipient each.
//!
//! State's bytes a delivery are measured by bench_apply. Not part of `cargo test`.

#[path = "support/bench.rs"]
mod bench;
#[path = "support/large_project.rs"]
mod large_project;
#[path = "support/project_gen.rs"]
mod project_gen;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bench::{default_herald, gnu_time, machine, median, peak_rss_with, thousands};
use clap::Parser;

/// The plans' time: the invoice reminder has no schedule, and project_gen's are later.
const NOW: &str = "2026-11-25T00:00:00Z";

/// Measure what herald keeps and carries for large campaigns.
#[derive(Debug, Parser)]
#[command(name = "bench_scale")]
struct Args {
    /// Timed runs of each figure.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Recipients of the large plan.
    #[arg(long, default_value_t = 10_000_000)]
    big: usize,
    /// Campaign files of the many-campaigns project.
    #[arg(long, default_value_t = 50_000)]
    campaigns: usize,
    /// The herald binary. Default: target/release/herald next to this example.
    #[arg(long)]
    herald: Option<PathBuf>,
    /// The Python interpreter for examples/naive_plan.py.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// Keep the generated projects (their directory is printed).
    #[arg(long)]
    keep: bool,
    /// Measure only the diff (figure 4), to compare builds without waiting for the rest.
    #[arg(long)]
    diff_only: bool,
    /// Measure only the large plan (figure 3), to compare builds without waiting for the rest.
    #[arg(long, conflicts_with = "diff_only")]
    big_only: bool,
}

/// One line of the table.
struct Figure {
    name: String,
    measured: String,
    target: String,
    met: bool,
}

/// Times and peak RSS of one command.
struct Timed {
    times: Vec<Duration>,
    rss_kib: Option<u64>,
}

impl Timed {
    fn median(&self) -> Duration {
        median(&self.times)
    }

    fn describe(&self) -> String {
        let runs: Vec<String> = self
            .times
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect();
        format!(
            "{:.2} s ({} s), {}",
            self.median().as_secs_f64(),
            runs.join(" / "),
            mib(self.rss_kib)
        )
    }

    fn within(&self, seconds: f64, mib_cap: f64) -> bool {
        self.median().as_secs_f64() <= seconds
            && self.rss_kib.is_some_and(|k| k as f64 / 1024.0 <= mib_cap)
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "peak RSS n/a".to_owned(),
        |k| format!("peak {:.0} MiB", k as f64 / 1024.0),
    )
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_scale: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.runs == 0 {
        return Err("--runs must be at least 1".to_owned());
    }
    let herald = match &args.herald {
        Some(path) => path.clone(),
        None => default_herald("bench_scale")?,
    };
    bench::warn_if_stale(&herald);
    let work = std::env::temp_dir().join(format!("herald-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    eprintln!("herald: {}\nprojects: {}", herald.display(), work.display());
    let figures = figures(args, &herald, &work);
    if args.keep {
        eprintln!("kept the projects in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    let figures = figures?;
    println!(
        "\n`bench_scale`, release build, {} runs each (median, the runs, peak RSS); machine: {}\n",
        args.runs,
        machine()
    );
    println!("| figure | measured | target | |\n|---|---|---|---|");
    for f in &figures {
        let mark = if f.met { "✓" } else { "✗" };
        println!("| {} | {} | {} | {mark} |", f.name, f.measured, f.target);
    }
    Ok(())
}

fn figures(args: &Args, herald: &Path, work: &Path) -> Result<Vec<Figure>, String> {
    let mut figures = Vec::new();
    if !args.big_only {
        let million = 1_000_000;
        let dir = work.join("million");
        let csv = generate(&dir, million)?;
        if !args.diff_only {
            plan_figures(args, herald, &dir, &csv, &mut figures)?;
        }
        figures.push(diff_figure(args, herald, &dir, &csv)?);
        if !args.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if args.diff_only {
            return Ok(figures);
        }
    }

    // 3: the large plan.
    let dir = work.join("big");
    generate(&dir, args.big)?;
    let big = measure(
        args,
        herald,
        &dir,
        &["plan", "--now", NOW, "--out", "herald.plan"],
    )?;
    figures.push(Figure {
        name: format!("plan of {} recipients", thousands(args.big as u64)),
        measured: big.describe(),
        target: "≤ 10 s, ≤ 1 GiB".to_owned(),
        met: big.within(10.0, 1024.0),
    });
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if args.big_only {
        return Ok(figures);
    }

    // 5: many small campaigns.
    let dir = work.join("campaigns");
    let spec = project_gen::Spec {
        files: args.campaigns,
        recipients: args.campaigns,
    };
    project_gen::generate(spec, &dir)
        .map_err(|e| format!("cannot generate {}: {e}", dir.display()))?;
    let many = measure(args, herald, &dir, &["plan", "--now", NOW])?;
    figures.push(Figure {
        name: format!(
            "plan of {} small campaigns",
            thousands(args.campaigns as u64)
        ),
        measured: many.describe(),
        target: "≤ 2 s, ≤ 400 MB".to_owned(),
        met: many.within(2.0, 400.0),
    });
    Ok(figures)
}

/// 1 and 2: the plan file, and the plan against the script, alternating.
fn plan_figures(
    args: &Args,
    herald: &Path,
    dir: &Path,
    csv: &Path,
    figures: &mut Vec<Figure>,
) -> Result<(), String> {
    let million = 1_000_000;
    let plan_file = dir.join("herald.plan");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/naive_plan.py");
    let requests = dir.join("requests.jsonl");
    for _ in 0..args.runs {
        ours.push(time(plan(herald, dir).arg("--out").arg(&plan_file))?);
        let mut python = Command::new(&args.python);
        python.arg(&script).arg(csv).arg(&requests);
        theirs.push(time(&mut python)?);
    }
    ours.sort();
    theirs.sort();
    let bytes = file_len(&plan_file)? as f64 / million as f64;
    figures.push(Figure {
        name: format!(
            "saved plan (`plan --out`), {} recipients",
            thousands(million as u64)
        ),
        measured: format!(
            "{:.1} MB ({bytes:.1} B a recipient; the script's JSON: {:.0} B)",
            file_len(&plan_file)? as f64 / 1e6,
            file_len(&requests)? as f64 / million as f64
        ),
        target: "≤ 40 B a recipient".to_owned(),
        met: bytes <= 40.0,
    });
    let ratio = median(&ours).as_secs_f64() / median(&theirs).as_secs_f64();
    figures.push(Figure {
        name: format!(
            "plan of {} recipients vs naive_plan.py, same runs",
            thousands(million as u64)
        ),
        measured: format!(
            "{ratio:.2}× ({:.2} s vs {:.2} s)",
            median(&ours).as_secs_f64(),
            median(&theirs).as_secs_f64()
        ),
        target: "≤ 0.25×".to_owned(),
        met: ratio <= 0.25,
    });
    Ok(())
}

/// 4: diff of every recipient changed.
fn diff_figure(args: &Args, herald: &Path, dir: &Path, csv: &Path) -> Result<Figure, String> {
    let million = 1_000_000;
    git(dir, &["init", "-q"])?;
    git(dir, &["add", "-A", "herald.yaml", "campaigns", "audiences"])?;
    git(
        dir,
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
            "commit",
            "-qm",
            "base",
        ],
    )?;
    rename_everyone(csv)?;
    let diff = measure(args, herald, dir, &["diff", "--base", "HEAD"])?;
    Ok(Figure {
        name: format!(
            "`herald diff` of {} changed recipients",
            thousands(million as u64)
        ),
        measured: diff.describe(),
        target: "≤ 3 s, ≤ 300 MB".to_owned(),
        met: diff.within(3.0, 300.0),
    })
}

/// The invoice reminder to `n` recipients in `dir`; returns its CSV.
fn generate(dir: &Path, n: usize) -> Result<PathBuf, String> {
    let started = Instant::now();
    large_project::generate(dir, n, large_project::ENGATI)
        .map_err(|e| format!("cannot generate {}: {e}", dir.display()))?;
    eprintln!(
        "generated {} recipients in {:.1?}",
        thousands(n as u64),
        started.elapsed()
    );
    Ok(dir.join("audiences").join("big.csv"))
}

/// `herald plan` at [`NOW`] in `dir`.
fn plan(herald: &Path, dir: &Path) -> Command {
    let mut command = Command::new(herald);
    command
        .args(["plan", "--now", NOW])
        .current_dir(dir)
        .env("NO_COLOR", "1");
    command
}

/// Runs `command` once, its output discarded; an error unless it exits 0.
fn time(command: &mut Command) -> Result<Duration, String> {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let took = started.elapsed();
    if !status.success() {
        return Err(format!("{command:?} failed ({status})"));
    }
    Ok(took)
}

/// `--runs` timed runs of `herald ARGS` in `dir`, then one under GNU time.
fn measure(args: &Args, herald: &Path, dir: &Path, herald_args: &[&str]) -> Result<Timed, String> {
    let mut times = Vec::new();
    for _ in 0..args.runs {
        let mut command = Command::new(herald);
        command
            .args(herald_args)
            .current_dir(dir)
            .env("NO_COLOR", "1");
        times.push(time(&mut command)?);
    }
    times.sort();
    let report = dir.join("time.txt");
    let argv: Vec<&OsStr> = herald_args.iter().map(OsStr::new).collect();
    let rss_kib = gnu_time().and_then(|time| {
        peak_rss_with(time, &report, herald, &argv, |c| {
            c.current_dir(dir).env("NO_COLOR", "1");
        })
    });
    Ok(Timed { times, rss_kib })
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run git: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("git {args:?} failed in {}", dir.display()))
}

/// Gives every recipient of the CSV another first name, so every message changes.
fn rename_everyone(csv: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(csv).map_err(|e| format!("cannot read {}: {e}", csv.display()))?;
    let mut out = String::with_capacity(text.len() + text.len() / 20);
    for (i, line) in text.lines().enumerate() {
        match line.split_once(',') {
            Some((phone, rest)) if i > 0 => {
                out.push_str(phone);
                out.push_str(",x");
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    std::fs::write(csv, out).map_err(|e| format!("cannot write {}: {e}", csv.display()))
}

fn file_len(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}
