//! Wall-time benchmark of `herald validate` on synthetic projects of growing size.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench_validate
//! cargo run --release --example bench_validate -- --sizes 100,1000 --runs 11 --keep
//! ```
//!
//! For each size N it writes a project of N campaign files with `--per-file` inline recipients
//! each (see `support/project_gen.rs`) under the system temp directory, runs the *release*
//! herald binary once as a warm-up (which must report the project valid), then `--runs` timed
//! runs, and prints a markdown table. Peak RSS comes from one extra run under GNU
//! `/usr/bin/time` when it is installed. Not part of `cargo test`.

#[path = "support/bench.rs"]
mod bench;
#[path = "support/project_gen.rs"]
mod project_gen;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bench::{default_herald, gnu_time, median, ms, rss_mib, warn_if_stale};
use clap::Parser;

/// The issue's target: this many files and recipients validate in under `TARGET`.
const HEADLINE_FILES: usize = 1_000;
const HEADLINE_RECIPIENTS: usize = 10_000;
const TARGET: Duration = Duration::from_secs(1);

/// Time `herald validate` on synthetic projects.
#[derive(Debug, Parser)]
#[command(name = "bench_validate")]
struct Args {
    /// Project sizes, in campaign files.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    sizes: Vec<usize>,
    /// Inline recipients per file.
    #[arg(long, default_value_t = 10)]
    per_file: usize,
    /// Timed runs per size (after one warm-up run).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// The herald binary. Default: target/release/herald next to this example.
    #[arg(long)]
    herald: Option<PathBuf>,
    /// Keep the generated projects (their directory is printed).
    #[arg(long)]
    keep: bool,
}

struct Row {
    files: usize,
    recipients: usize,
    mib: f64,
    times: Vec<Duration>,
    rss_kib: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_validate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.runs == 0 || args.per_file == 0 {
        return Err("--runs and --per-file must be at least 1".to_owned());
    }
    let herald = match &args.herald {
        Some(path) => path.clone(),
        None => default_herald("bench_validate")?,
    };
    if !herald.is_file() {
        return Err(format!(
            "{} does not exist; build it first with `cargo build --release`",
            herald.display()
        ));
    }
    warn_if_stale(&herald);
    let time = gnu_time();

    let work = std::env::temp_dir().join(format!("herald-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    eprintln!("herald: {}", herald.display());
    eprintln!("projects: {}", work.display());

    let mut rows = Vec::new();
    let result = (|| {
        for &files in &args.sizes {
            rows.push(bench_one(args, &herald, time, &work, files)?);
        }
        Ok::<(), String>(())
    })();
    if args.keep {
        eprintln!("kept the projects in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result?;

    print_table(args, &rows);
    Ok(())
}

fn bench_one(
    args: &Args,
    herald: &Path,
    time: Option<&Path>,
    work: &Path,
    files: usize,
) -> Result<Row, String> {
    let recipients = files * args.per_file;
    let dir = work.join(format!("n{files}"));
    let started = Instant::now();
    let summary = project_gen::generate(project_gen::Spec { files, recipients }, &dir)
        .map_err(|e| format!("cannot generate {}: {e}", dir.display()))?;
    eprintln!(
        "N={files}: generated {recipients} recipients, {:.1} MiB in {:.0?}",
        summary.bytes as f64 / 1024.0 / 1024.0,
        started.elapsed()
    );

    // Warm-up, which also checks that the project is valid.
    let output = validate(herald, &dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", herald.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !stdout.starts_with("valid:") {
        return Err(format!(
            "the generated project {} is not valid ({}):\n{}{}",
            dir.display(),
            output.status,
            stdout.chars().take(4000).collect::<String>(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let started = Instant::now();
        let status = validate(herald, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", herald.display()))?;
        let elapsed = started.elapsed();
        if !status.success() {
            return Err(format!(
                "herald validate failed on {}: {status}",
                dir.display()
            ));
        }
        times.push(elapsed);
    }
    times.sort();
    eprintln!(
        "N={files}: median {:.1} ms over {} runs",
        ms(median(&times)),
        times.len()
    );
    Ok(Row {
        files,
        recipients: summary.recipients,
        mib: summary.bytes as f64 / 1024.0 / 1024.0,
        times,
        rss_kib: time.and_then(|t| {
            let args = [
                OsStr::new("validate"),
                OsStr::new("--project"),
                dir.as_os_str(),
            ];
            bench::peak_rss(t, &work.join("time.out"), herald, &args)
        }),
    })
}

fn validate(herald: &Path, dir: &Path) -> Command {
    let mut command = Command::new(herald);
    command
        .arg("validate")
        .arg("--project")
        .arg(dir)
        .env("NO_COLOR", "1");
    command
}

fn print_table(args: &Args, rows: &[Row]) {
    println!();
    println!(
        "`herald validate`, release build, {} timed runs after 1 warm-up, {} recipients per file",
        args.runs, args.per_file
    );
    println!();
    println!(
        "| files | recipients | YAML MiB | median ms | min ms | max ms | ms per file | peak RSS MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let median = ms(median(&row.times));
        let rss = rss_mib(row.rss_kib);
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.3} | {rss} |",
            row.files,
            row.recipients,
            row.mib,
            median,
            ms(row.times[0]),
            ms(row.times[row.times.len() - 1]),
            median / row.files as f64,
        );
    }
    println!();

    if let Some(row) = rows
        .iter()
        .find(|r| r.files == HEADLINE_FILES && r.recipients == HEADLINE_RECIPIENTS)
    {
        let median = median(&row.times);
        println!(
            "target: {HEADLINE_FILES} files / {HEADLINE_RECIPIENTS} recipients in under {} ms: \
             {} (median {:.1} ms)",
            TARGET.as_millis(),
            if median < TARGET { "MET" } else { "MISSED" },
            ms(median)
        );
    }
    // Growth: the exponent k in time ~ files^k between consecutive sizes (1.0 is linear).
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (ta, tb) = (ms(median(&a.times)), ms(median(&b.times)));
        if a.files > 0 && b.files > a.files && ta > 0.0 {
            let k = (tb / ta).ln() / (b.files as f64 / a.files as f64).ln();
            println!(
                "growth {} -> {} files: time x{:.2} for files x{:.1} (exponent {k:.2}; 1.00 is linear)",
                a.files,
                b.files,
                tb / ta,
                b.files as f64 / a.files as f64
            );
        }
    }
}
