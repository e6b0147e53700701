//! Bad input gets a clear error, never a panic.
//!
//! Every directory under `tests/fixtures/invalid/` is a small project broken in exactly one way,
//! named for the problem. This test runs `herald validate` on each and snapshots the exit code and
//! output (`tests/snapshots/invalid__human@<case>.snap`), so a change to any message shows up in
//! review. A new fixture directory is picked up without touching this file; run
//! `INSTA_UPDATE=always cargo test --test invalid` (or `cargo insta test`) to record its snapshot,
//! then read it as a user would.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than any case may take: a run past this is a hang, killed and reported.
const HANG: Duration = Duration::from_secs(30);
/// Hostile input (alias bombs, huge files) must be turned away quickly.
const FAST: Duration = Duration::from_secs(2);

/// Cases that need more than `validate --project DIR`.
fn extra_args(case: &str) -> &'static [&'static str] {
    match case {
        // The project is valid; only the environment named on the command line is wrong.
        "unknown-env" => &["--env", "prodution"],
        // A year after the campaign's (mistyped) time.
        "late-schedule" => &["--now", "2026-12-07T10:00:00Z"],
        _ => &[],
    }
}

/// Cases that must not fail validation: they only warn.
const WARNING_ONLY: &[&str] = &[
    "empty-resource-file",
    "marketing-without-suppression",
    "template-without-category",
];

/// Cases that are usage errors (a bad flag value), which exit 2 like any other usage error.
const USAGE_ERROR: &[&str] = &["unknown-env"];

/// Cases whose input is hostile and must be rejected within [`FAST`].
const MUST_BE_FAST: &[&str] = &["yaml-alias-bomb"];

/// The outcome of one run of herald.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// The text that is snapshotted: exit code, then stdout and stderr.
    fn transcript(&self) -> String {
        let mut text = format!("exit code: {}\n", self.code);
        text.push_str("----- stdout -----\n");
        text.push_str(&self.stdout);
        if !self.stderr.is_empty() {
            text.push_str("----- stderr -----\n");
            text.push_str(&self.stderr);
        }
        text
    }

    /// The checks every case must pass, whatever its messages say.
    fn assert_well_behaved(&self, case: &str) {
        for (name, stream) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            assert!(
                !stream.contains("panicked"),
                "{case}: herald panicked; {name}:\n{stream}"
            );
        }
        assert!(
            !self.stdout.contains('\u{1b}'),
            "{case}: NO_COLOR is set, but the output has escape codes"
        );
    }
}

/// Runs `herald validate --project DIR ARGS...` with colors off, killing it after [`HANG`].
fn validate(dir: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("validate")
        .arg("--project")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herald starts");
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).expect("pipe reads");
            String::from_utf8(bytes).expect("herald prints UTF-8")
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "herald validate --project {} hung for more than {HANG:?}",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Run {
        // A signal (no exit code) shows as -1 and fails the exit-code assertions.
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout thread"),
        stderr: stderr.join().expect("stderr thread"),
        elapsed,
    }
}

fn case_name(dir: &Path) -> String {
    dir.file_name()
        .expect("a case directory has a name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn human() {
    insta::glob!("fixtures/invalid/*", |dir| {
        let case = case_name(dir);
        assert!(
            dir.join("herald.yaml").exists(),
            "{case}: every case is a project with a herald.yaml (even an empty one)"
        );
        let run = validate(dir, extra_args(&case));
        run.assert_well_behaved(&case);
        let expected = if WARNING_ONLY.contains(&case.as_str()) {
            0
        } else if USAGE_ERROR.contains(&case.as_str()) {
            2
        } else {
            1
        };
        assert_eq!(
            run.code,
            expected,
            "{case}: unexpected exit code\n{}",
            run.transcript()
        );
        if MUST_BE_FAST.contains(&case.as_str()) {
            eprintln!("{case}: {:?}", run.elapsed);
            assert!(
                run.elapsed < FAST,
                "{case}: took {:?}, more than {FAST:?}",
                run.elapsed
            );
        }
        insta::assert_snapshot!(run.transcript());
    });
}

#[test]
fn json() {
    for case in [
        "unknown-field-suggestion",
        "duplicate-name-across-files",
        "csv-bad-phone-row",
        "non-utf8-bytes",
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/invalid")
            .join(case);
        let run = validate(&dir, &["--format", "json"]);
        run.assert_well_behaved(case);
        assert_eq!(run.code, 1, "{case}:\n{}", run.transcript());
        let parsed: serde_json::Value =
            serde_json::from_str(&run.stdout).expect("--format json prints JSON");
        assert!(
            parsed.as_array().is_some_and(|a| !a.is_empty()),
            "{case}: expected a non-empty array"
        );
        insta::assert_snapshot!(format!("json@{case}"), run.transcript());
    }
}

#[test]
fn valid_base_has_no_problems() {
    // The fixtures are copies of this project with one thing broken; it must itself be valid.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/base");
    let run = validate(&dir, &[]);
    run.assert_well_behaved("valid/base");
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stderr, "");
}

/// A 50 MB resource file (generated here, never committed) is turned away by its size, quickly.
#[test]
fn huge_yaml_file() {
    let project = tempfile::tempdir().expect("temp dir");
    let root = project.path();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/base/herald.yaml"),
        root.join("herald.yaml"),
    )
    .expect("copy herald.yaml");
    std::fs::create_dir(root.join("campaigns")).expect("mkdir");
    let line = "# padding padding padding padding padding padding padding padding padding pad\n";
    let text = line.repeat(50 * 1024 * 1024 / line.len());
    std::fs::write(root.join("campaigns/huge.yaml"), text).expect("write 50 MB");

    let run = validate(root, &[]);
    run.assert_well_behaved("huge-yaml-file");
    eprintln!("huge-yaml-file: {:?}", run.elapsed);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.elapsed < FAST,
        "took {:?}, more than {FAST:?}",
        run.elapsed
    );
    insta::assert_snapshot!(run.transcript());
}

/// The csv-bad-phone-row project in a temporary directory, with an empty `audiences/` for a
/// generated CSV.
fn csv_bad_phone_row_without_its_csv() -> tempfile::TempDir {
    let project = tempfile::tempdir().expect("temp dir");
    let root = project.path();
    let base =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/csv-bad-phone-row");
    for file in ["herald.yaml", "campaigns/welcome.yaml"] {
        std::fs::create_dir_all(root.join(file).parent().expect("has a parent")).expect("mkdir");
        std::fs::copy(base.join(file), root.join(file)).expect("copy");
    }
    std::fs::create_dir(root.join("audiences")).expect("mkdir");
    project
}

/// A 50 MB CSV audience is streamed, not refused: the bad phone on its last row is still found.
///
/// A debug build takes about 3 s here (release: about 0.3 s), so the [`FAST`] bound is enforced
/// only with `cargo test --release`; the time is printed either way.
#[test]
fn huge_csv_file() {
    let project = csv_bad_phone_row_without_its_csv();
    let root = project.path();
    let mut csv = String::from("phone,first_name\n");
    let mut rows = 0;
    while csv.len() < 50 * 1024 * 1024 {
        rows += 1;
        csv.push_str(&format!("+9190{rows:08},Name{rows}\n"));
    }
    csv.push_str("+91 bad,Last\n");
    std::fs::write(root.join("audiences/testers.csv"), csv).expect("write 50 MB");

    let run = validate(root, &[]);
    run.assert_well_behaved("huge-csv-file");
    eprintln!("huge-csv-file ({} rows): {:?}", rows + 1, run.elapsed);
    assert_eq!(run.code, 1, "{}", run.transcript());
    if !cfg!(debug_assertions) {
        assert!(
            run.elapsed < FAST,
            "took {:?}, more than {FAST:?}",
            run.elapsed
        );
    }
    insta::assert_snapshot!(run.transcript());
}

/// A CSV audience big enough to be read in parts, on several threads: quoted fields holding
/// line ends, CRLF line ends and blank lines do not move a row's reported line, bad phones and
/// zones are reported at their own rows and lines wherever the file is cut, the first few of
/// each in file order, and the rest counted.
#[test]
fn huge_csv_file_read_in_parts_reports_rows_where_they_are() {
    let project = csv_bad_phone_row_without_its_csv();
    let root = project.path();
    let mut csv = String::from("phone,first_name,timezone\r\n");
    // The line each row starts on, and which rows are bad.
    let (mut line, mut rows) = (2u64, 0u64);
    let mut bad_phones = Vec::new();
    let mut bad_zones = Vec::new();
    while csv.len() < 20 * 1024 * 1024 {
        rows += 1;
        let (phone, name, zone) = match rows % 25_013 {
            7 => (
                format!("+91 {rows}"),
                "\"Bad\r\nPhone\"".to_owned(),
                "Asia/Kolkata",
            ),
            11 => (
                format!("+9190{rows:08}"),
                "Bad zone".to_owned(),
                "Mars/Olympus",
            ),
            n if n % 97 == 0 => (
                format!("+9190{rows:08}"),
                format!("\"Two\r\nlines, \"\"{rows}\"\"\""),
                "",
            ),
            _ => (format!("+9190{rows:08}"), format!("Name{rows}"), "UTC"),
        };
        if phone.contains(' ') {
            bad_phones.push((rows, line, phone.clone()));
        }
        if zone == "Mars/Olympus" {
            bad_zones.push((rows, line));
        }
        csv.push_str(&format!("{phone},{name},{zone}\r\n"));
        line += 1 + name.matches('\n').count() as u64;
        if rows % 10_007 == 0 {
            csv.push_str("\r\n");
            line += 1;
        }
    }
    std::fs::write(root.join("audiences/testers.csv"), csv).expect("write 20 MB");

    let run = validate(root, &[]);
    run.assert_well_behaved("huge-csv-file-in-parts");
    assert_eq!(run.code, 1, "{}", run.transcript());
    let out = run.transcript();
    assert!(bad_phones.len() > 10 && bad_zones.len() > 10, "{out}");
    for (row, line, phone) in &bad_phones[..10] {
        let said = format!("row {row}, column `phone`: `{phone}` is not an E.164 phone number");
        assert!(out.contains(&said), "{said}\nnot in:\n{out}");
        assert!(
            out.contains(&format!("[audiences/testers.csv:{line}:1]")),
            "{line}"
        );
    }
    for (row, line) in &bad_zones[..10] {
        let said = format!("row {row}, column `timezone`: `Mars/Olympus`");
        assert!(out.contains(&said), "{said}\nnot in:\n{out}");
        assert!(
            out.contains(&format!("[audiences/testers.csv:{line}:")),
            "{line}"
        );
    }
    let (row, ..) = bad_phones[10];
    assert!(!out.contains(&format!("row {row}, column")), "{out}");
    let more = format!(
        "{} more rows with invalid phone numbers",
        bad_phones.len() - 10
    );
    assert!(out.contains(&more), "{more}\nnot in:\n{out}");
    let more = format!(
        "{} rows more with a `timezone` that is not an IANA time zone",
        bad_zones.len() - 10
    );
    assert!(out.contains(&more), "{more}\nnot in:\n{out}");
}
