//! The hostile-input corpus: campaign files arrive in pull requests and run on CI machines that
//! hold the send key and the state URL, so a project must not be able to make herald read
//! outside it, leak a secret or a stranger's data, or exhaust the machine.
//!
//! Every directory under `tests/fixtures/hostile/` is a project and a `case.yaml` saying what it
//! tries, what to run (`validate` unless `command` says otherwise), the exit code, and the
//! problems herald must report (code and `file:line:col`). Each case runs in a fresh temporary
//! directory beside a folder of foreign files (`../outside/`, holding a canary), with a canary
//! API key, state URL and home directory in its environment, and must:
//! - exit as expected, reporting exactly the expected error codes at the expected places;
//! - print no canary, no foreign file's contents, no panic;
//! - finish within its time bound and stay under 256 MiB of memory (measured with `wait4`).
//!
//! The human output of every case is snapshotted (`snapshots/hostile__human@<case>.snap`), a
//! catalogue of how herald turns each attack away. `cargo test --release --test hostile --
//! --nocapture` prints each case's time and memory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Secrets in every case's environment: none may ever be printed.
const KEY: &str = "hk_HOSTILE_KEY_CANARY_3c9e1f";
const STATE_PASSWORD: &str = "STATE_PASSWORD_CANARY_81d2";
/// What the files outside the project hold.
const FOREIGN: &str = "FOREIGN_CANARY_5b7a";
/// Memory no case may exceed.
const MAX_RSS_MIB: u64 = 256;
/// A run past this is a hang: killed and reported.
const HANG: Duration = Duration::from_secs(60);

/// What a case tries and what must come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The attack, in a sentence.
    about: String,
    /// herald's arguments (`--project DIR` is added); default `validate`.
    #[serde(default = "validate")]
    command: Vec<String>,
    /// The exit code.
    exit: i32,
    /// The errors herald reports: each code at a place (`file:line:col`), in any order.
    #[serde(default)]
    errors: Vec<Expected>,
    /// Things to make before running: links, FIFOs, generated files, a git repository.
    #[serde(default)]
    setup: Vec<Setup>,
    /// More text that must not be printed (besides the canaries).
    #[serde(default)]
    absent: Vec<String>,
    /// The wall-time bound in seconds of a release build (debug builds get ten times as long).
    #[serde(default = "one_second")]
    seconds: f64,
}

fn validate() -> Vec<String> {
    vec!["validate".to_owned()]
}

fn one_second() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    code: String,
    #[serde(default)]
    at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Setup {
    /// A symbolic link at `path` (in the project) to `to` (verbatim).
    Symlink { path: String, to: String },
    /// A FIFO at this path.
    Fifo(String),
    /// A file with this text.
    File { path: String, text: String },
    /// A file of `head`, then `text` `times` times, then `tail`: big files, made here rather
    /// than committed.
    Repeat {
        path: String,
        #[serde(default)]
        head: String,
        text: String,
        times: usize,
        #[serde(default)]
        tail: String,
    },
    /// `git init` and a commit of everything, for `herald diff`.
    Git,
}

/// One run of herald.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    max_rss_kib: u64,
}

impl Run {
    fn transcript(&self) -> String {
        let mut text = format!(
            "exit code: {}\n----- stdout -----\n{}",
            self.code, self.stdout
        );
        if !self.stderr.is_empty() {
            text.push_str("----- stderr -----\n");
            text.push_str(&self.stderr);
        }
        text
    }
}

/// The temporary places a case runs in.
struct Sandbox {
    _dir: tempfile::TempDir,
    base: PathBuf,
    project: PathBuf,
}

impl Sandbox {
    fn new(case_dir: &Path) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        // Resolved, so the paths herald prints can be filtered out of snapshots.
        let base = dir.path().canonicalize().expect("temp dir resolves");
        let project = base.join("project");
        copy_tree(case_dir, &project);
        let _ = std::fs::remove_file(project.join("case.yaml"));
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir outside");
        std::fs::write(
            outside.join("secret.csv"),
            format!("phone,name\n+919019486731,{FOREIGN}\n"),
        )
        .expect("write secret.csv");
        std::fs::write(outside.join("secret.yaml"), format!("{FOREIGN}: [\n")).expect("write");
        std::fs::create_dir_all(base.join("home")).expect("mkdir home");
        Sandbox {
            _dir: dir,
            base,
            project,
        }
    }

    fn setup(&self, steps: &[Setup]) {
        for step in steps {
            match step {
                Setup::Symlink { path, to } => {
                    let link = self.project.join(path);
                    make_parent(&link);
                    std::os::unix::fs::symlink(to, &link).expect("symlink");
                }
                Setup::Fifo(path) => {
                    let fifo = self.project.join(path);
                    make_parent(&fifo);
                    let status = Command::new("mkfifo")
                        .arg(&fifo)
                        .status()
                        .expect("mkfifo runs");
                    assert!(status.success(), "mkfifo {}", fifo.display());
                }
                Setup::File { path, text } => {
                    let file = self.project.join(path);
                    make_parent(&file);
                    std::fs::write(file, text).expect("write");
                }
                Setup::Repeat {
                    path,
                    head,
                    text,
                    times,
                    tail,
                } => {
                    let file = self.project.join(path);
                    make_parent(&file);
                    let mut bytes =
                        Vec::with_capacity(head.len() + text.len() * times + tail.len());
                    bytes.extend_from_slice(head.as_bytes());
                    for _ in 0..*times {
                        bytes.extend_from_slice(text.as_bytes());
                    }
                    bytes.extend_from_slice(tail.as_bytes());
                    std::fs::write(file, bytes).expect("write");
                }
                Setup::Git => {
                    for args in [
                        &["init", "-q", "-b", "main"][..],
                        &["add", "-A"],
                        &[
                            "-c",
                            "user.name=t",
                            "-c",
                            "user.email=t@example.com",
                            "commit",
                            "-q",
                            "-m",
                            "base",
                        ],
                    ] {
                        let status = Command::new("git")
                            .args(args)
                            .current_dir(&self.project)
                            .status()
                            .expect("git runs");
                        assert!(status.success(), "git {args:?}");
                    }
                }
            }
        }
    }

    /// Runs herald with `args` and `--project`, in a bare environment holding the canaries.
    #[allow(
        clippy::zombie_processes,
        reason = "the child is reaped with wait4, which also reports its peak memory"
    )]
    fn run(&self, args: &[String]) -> Run {
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .arg("--project")
            .arg(&self.project)
            .current_dir(&self.project)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.base.join("home"))
            .env("NO_COLOR", "1")
            .env("ENGATI_API_KEY", KEY)
            .env(
                "HERALD_STATE_URL",
                format!("postgres://herald:{STATE_PASSWORD}@127.0.0.1:9/herald"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("herald starts");
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("piped")));
        let stderr = drain(Box::new(child.stderr.take().expect("piped")));
        let pid = child.id() as libc::pid_t;
        let (status, rusage) = loop {
            let mut status = 0;
            // SAFETY: rusage is plain data that wait4 fills in.
            let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: waits for our own child, writing into the two locals.
            let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut rusage) };
            if done == pid {
                break (status, rusage);
            }
            assert!(
                done == 0,
                "wait4 failed: {}",
                std::io::Error::last_os_error()
            );
            if start.elapsed() > HANG {
                let _ = child.kill();
                panic!("herald {args:?} hung for more than {HANG:?}");
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = start.elapsed();
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -libc::WTERMSIG(status)
        };
        Run {
            code,
            stdout: stdout.join().expect("stdout thread"),
            stderr: stderr.join().expect("stderr thread"),
            elapsed,
            max_rss_kib: u64::try_from(rusage.ru_maxrss).unwrap_or(0),
        }
    }
}

fn make_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn read_case(dir: &Path) -> Case {
    let path = dir.join("case.yaml");
    let text = std::fs::read_to_string(&path).expect("every case has a case.yaml");
    let source = herald::diagnostic::SourceText::new(text.into(), 1);
    let (docs, problems) = herald::load::yaml::parse("case.yaml", &source);
    assert!(problems.is_empty(), "{}: {problems:?}", path.display());
    serde_json::from_value(docs[0].to_json()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The same arguments asking for JSON output.
fn as_json(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if a == "--format" {
            skip = true;
        } else if !a.starts_with("--format=") {
            out.push(a.clone());
        }
    }
    out.extend(["--format".to_owned(), "json".to_owned()]);
    out
}

/// The error codes and places of a JSON run.
fn errors_of(run: &Run) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str(&run.stdout) else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_owned(),
                format!(
                    "{}:{}:{}",
                    d["file"].as_str().unwrap_or_default(),
                    d["line"],
                    d["column"]
                ),
            )
        })
        .collect()
}

/// What is wrong with a case's runs, as messages; empty when the case holds.
fn check(name: &str, case: &Case, runs: [&Run; 2], slow: f64) -> Vec<String> {
    let mut wrong = Vec::new();
    for run in runs {
        let both = format!("{}{}", run.stdout, run.stderr);
        for secret in [KEY, STATE_PASSWORD, FOREIGN, "root:x:0:0"]
            .into_iter()
            .chain(case.absent.iter().map(String::as_str))
        {
            if both.contains(secret) {
                wrong.push(format!("{name}: printed `{secret}`:\n{}", run.transcript()));
            }
        }
        if both.contains("panicked") {
            wrong.push(format!("{name}: panicked:\n{}", run.transcript()));
        }
        if run.code != case.exit {
            wrong.push(format!(
                "{name}: exit code {} instead of {}:\n{}",
                run.code,
                case.exit,
                run.transcript()
            ));
        }
        let bound = Duration::from_secs_f64(case.seconds * slow);
        if run.elapsed > bound {
            wrong.push(format!(
                "{name}: took {:?}, more than {bound:?}",
                run.elapsed
            ));
        }
        if run.max_rss_kib > MAX_RSS_MIB * 1024 {
            wrong.push(format!(
                "{name}: used {} MiB, more than {MAX_RSS_MIB} MiB",
                run.max_rss_kib / 1024
            ));
        }
    }
    let json = runs[1];
    let mut found = errors_of(json);
    found.sort();
    let mut codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    codes.dedup();
    let mut expected: Vec<&str> = case.errors.iter().map(|e| e.code.as_str()).collect();
    expected.sort();
    expected.dedup();
    if codes != expected {
        wrong.push(format!(
            "{name}: error codes {codes:?}, expected {expected:?}:\n{}",
            json.transcript()
        ));
    }
    for e in &case.errors {
        if let Some(at) = &e.at
            && !found.iter().any(|(c, a)| *c == e.code && a == at)
        {
            wrong.push(format!("{name}: no {} at {at}; found {found:?}", e.code));
        }
    }
    wrong
}

#[test]
fn hostile_inputs_are_turned_away() {
    let slow = if cfg!(debug_assertions) { 10.0 } else { 1.0 };
    let mut worst_time = (Duration::ZERO, String::new());
    let mut worst_rss = (0u64, String::new());
    let mut cases = 0;
    let mut wrong = Vec::new();
    insta::glob!("fixtures/hostile/*", |dir| {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case = read_case(dir);
        cases += 1;
        let sandbox = Sandbox::new(dir);
        sandbox.setup(&case.setup);

        let human = sandbox.run(&case.command);
        let json = sandbox.run(&as_json(&case.command));
        wrong.extend(check(&name, &case, [&human, &json], slow));
        for run in [&human, &json] {
            if run.elapsed > worst_time.0 {
                worst_time = (run.elapsed, name.clone());
            }
            if run.max_rss_kib > worst_rss.0 {
                worst_rss = (run.max_rss_kib, name.clone());
            }
        }
        eprintln!(
            "{name}: {:?} / {:?}, {} MiB, {:?}",
            human.elapsed,
            json.elapsed,
            human.max_rss_kib.max(json.max_rss_kib) / 1024,
            errors_of(&json)
        );

        let base = sandbox.base.display().to_string();
        insta::with_settings!({
            description => case.about.clone(),
            filters => vec![
                (base.as_str(), "[TMP]"),
                (r"/proc/\d+/", "/proc/[PID]/"),
                (r"Plan made \S+,", "Plan made [TIME],"),
                // Which watchdog limit a bomb meets first depends on the build and the machine.
                (
                    r"(used more than \d+ seconds of processor time|took more than \d+ MiB of memory)",
                    "[went past a watchdog limit]",
                ),
            ],
        }, {
            insta::assert_snapshot!(human.transcript());
        });
    });
    eprintln!(
        "{cases} hostile cases; slowest run {:?} ({}), most memory {} MiB ({})",
        worst_time.0,
        worst_time.1,
        worst_rss.0 / 1024,
        worst_rss.1
    );
    assert!(
        wrong.is_empty(),
        "{} problems:\n\n{}",
        wrong.len(),
        wrong.join("\n\n")
    );
    assert!(
        cases >= 40,
        "the corpus has {cases} cases; it should have at least 40"
    );
}
