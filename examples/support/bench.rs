//! Helpers shared by the `bench_*` examples: finding the release herald binary, warning when it
//! is older than the sources, peak RSS from GNU `/usr/bin/time`, the machine's description and
//! number formatting.
//!
//! Each example includes this file with `#[path = "support/bench.rs"] mod bench;` and uses only
//! some of it.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

/// target/release/herald, found next to the running example's own executable
/// (target/release/examples/EXAMPLE), so a custom CARGO_TARGET_DIR works too. `example` is the
/// example's name, for the note printed when it is not a release build.
pub(crate) fn default_herald(example: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?;
    if profile_dir.file_name().is_some_and(|n| n != "release") {
        eprintln!(
            "note: this example is not a release build; the benchmark still times \
             target/release/herald (run it with `cargo run --release --example {example}`)"
        );
        let target = profile_dir
            .parent()
            .ok_or("cannot find the target directory")?;
        return Ok(target.join("release").join(exe_name("herald")));
    }
    Ok(profile_dir.join(exe_name("herald")))
}

/// `name` with the platform's executable suffix.
pub(crate) fn exe_name(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Warns when a file under src/ is newer than the binary: the numbers would be for old code.
pub(crate) fn warn_if_stale(herald: &Path) {
    warn_if_older_than_src(herald, "cargo build --release");
}

/// Warns when a file under src/ is newer than `exe`, suggesting `rebuild` (a command).
pub(crate) fn warn_if_older_than_src(exe: &Path, rebuild: &str) {
    let Ok(built) = exe.metadata().and_then(|m| m.modified()) else {
        return;
    };
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if newest(&src).is_some_and(|t| t > built) {
        eprintln!(
            "warning: {} is older than the sources in {}; run `{rebuild}` for current numbers",
            exe.display(),
            src.display()
        );
    }
}

/// The newest modification time of any file under `dir`.
pub(crate) fn newest(dir: &Path) -> Option<SystemTime> {
    let mut best = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        best = best.max(time);
    }
    best
}

/// GNU time, when installed (`/usr/bin/time`).
pub(crate) fn gnu_time() -> Option<&'static Path> {
    let time = Path::new("/usr/bin/time");
    time.is_file().then_some(time)
}

/// Peak RSS in KiB of one run of `program args...` (stdout and stderr discarded), from GNU
/// time's `%M` written to `report`; `None` when that does not work here or the run fails.
pub(crate) fn peak_rss(time: &Path, report: &Path, program: &Path, args: &[&OsStr]) -> Option<u64> {
    peak_rss_with(time, report, program, args, |_| {})
}

/// [`peak_rss`], with the command's directory or environment set by `configure`.
pub(crate) fn peak_rss_with(
    time: &Path,
    report: &Path,
    program: &Path,
    args: &[&OsStr],
    configure: impl FnOnce(&mut Command),
) -> Option<u64> {
    let mut command = Command::new(time);
    command
        .args(["-f", "%M", "-o"])
        .arg(report)
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    configure(&mut command);
    let status = command.status().ok()?;
    let text = std::fs::read_to_string(report).ok()?;
    let _ = std::fs::remove_file(report);
    if !status.success() {
        return None;
    }
    text.lines().last()?.trim().parse().ok()
}

/// The machine, for a table's header: CPU model and available cores, e.g.
/// `AMD EPYC, 2 cores`.
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    format!("{model}, {cores} cores ({})", std::env::consts::OS)
}

/// Milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median of sorted times (the upper one of an even count).
pub(crate) fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

/// KiB as MiB with one decimal, or `n/a`.
pub(crate) fn rss_mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
