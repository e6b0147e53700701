//! The GitHub Actions workflows of docs/ci.md, run step by step against the emulator and a real
//! PostgreSQL server, so that the documented pipelines cannot rot: a pull request is reviewed
//! (and sends nothing), merged, applied, and a scheduled run then sends nothing more.
//!
//! Steps that `uses:` an action (checkout, the comment) and the one that installs herald (it
//! needs the network) are skipped; the test plays their part: the repository is cloned, the
//! freshly built herald is on PATH. Every `${{ }}` expression and `if:` condition in the
//! workflows must be one this file knows how to evaluate, so a new one fails loudly here.

mod plan_support;
mod state_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use herald::diagnostic::SourceText;
use herald::emulator::{self, BUILTIN_API_KEY, Running, Seed};
use herald::load::yaml;
use plan_support::{Project, git};
use serde_json::Value;
use state_support::Fixture;

/// The workflows in docs/ci.md: each `yaml` block whose first line names a workflow file.
fn documented_workflows() -> BTreeMap<String, Value> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md");
    let text = std::fs::read_to_string(docs).expect("docs/ci.md exists");
    let mut workflows = BTreeMap::new();
    for block in text.split("```yaml\n").skip(1) {
        let Some((body, _)) = block.split_once("\n```") else {
            panic!("an unclosed yaml block in docs/ci.md");
        };
        let Some(name) = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# .github/workflows/"))
        else {
            continue;
        };
        let source = SourceText::new(Arc::from(format!("{body}\n")), 1);
        let (documents, problems) = yaml::parse(name, &source);
        assert!(
            problems.is_empty(),
            "{name} is not valid YAML: {problems:?}"
        );
        workflows.insert(name.to_owned(), documents[0].to_json());
    }
    workflows
}

/// What a job sees: the repository clone, its environment, and the files GitHub provides.
struct Runner {
    work: PathBuf,
    env: BTreeMap<String, String>,
    summary: PathBuf,
}

impl Runner {
    /// `${{ expression }}` as GitHub would evaluate it for a pull request from the repository
    /// itself (or a push to main).
    fn evaluate(&self, expression: &str) -> String {
        match expression.trim() {
            "secrets.ENGATI_API_KEY" => BUILTIN_API_KEY.to_owned(),
            "secrets.HERALD_STATE_URL" => self.env["TEST_STATE_URL"].clone(),
            other => {
                panic!("docs/ci.md uses `${{{{ {other} }}}}`, which this test cannot evaluate")
            }
        }
    }

    /// An `if:` condition.
    fn condition(&self, condition: &str) -> bool {
        match condition.trim() {
            // Same-repository pull requests; forks are covered by herald diff's own tests.
            "github.event.pull_request.head.repo.full_name == github.repository" => true,
            "always()" => true,
            other => {
                panic!("docs/ci.md has the condition `{other}`, which this test cannot evaluate")
            }
        }
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                panic!("an unclosed expression in {text:?}");
            };
            out.push_str(&self.evaluate(&rest[start + 3..start + end]));
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Runs every job's steps in order, as GitHub's bash shell does; returns the steps run.
    fn run(&self, workflow: &Value, extra: &[(&str, &str)]) -> Vec<String> {
        let mut env: BTreeMap<String, String> = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let strings = |value: &Value| -> Vec<(String, String)> {
            value
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), self.substitute(v.as_str().unwrap_or_default())))
                        .collect()
                })
                .unwrap_or_default()
        };
        env.extend(strings(&workflow["env"]));
        let mut ran = Vec::new();
        let jobs = workflow["jobs"].as_object().expect("the workflow has jobs");
        for (job_name, job) in jobs {
            let mut job_env = env.clone();
            job_env.extend(strings(&job["env"]));
            for step in job["steps"].as_array().expect("the job has steps") {
                let name = step["name"].as_str().unwrap_or("(unnamed)");
                if step.get("uses").is_some() || name == "Install herald" {
                    continue;
                }
                if let Some(condition) = step["if"].as_str()
                    && !self.condition(condition)
                {
                    continue;
                }
                let mut step_env = job_env.clone();
                step_env.extend(strings(&step["env"]));
                let script = self.substitute(step["run"].as_str().expect("a run step"));
                let output = Command::new("bash")
                    .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
                    .current_dir(&self.work)
                    .env_clear()
                    .envs(&step_env)
                    .output()
                    .expect("bash runs");
                assert!(
                    output.status.success(),
                    "job {job_name}, step {name:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                ran.push(name.to_owned());
            }
        }
        ran
    }
}

/// The emulator on a runtime of its own.
struct Emulator {
    _runtime: tokio::runtime::Runtime,
    running: Running,
}

impl Emulator {
    fn start() -> Emulator {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let running = runtime
            .block_on(emulator::start(emulator::Config::local(Seed::builtin())))
            .expect("the emulator starts");
        Emulator {
            _runtime: runtime,
            running,
        }
    }

    /// The requests that would have messaged someone.
    fn sends(&self) -> Vec<String> {
        self.running
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| {
                format!(
                    "{} {}",
                    r.path,
                    r.body.map(|b| b.to_string()).unwrap_or_default()
                )
            })
            .collect()
    }
}

#[test]
fn the_documented_github_workflows_review_merge_and_apply() {
    let workflows = documented_workflows();
    let review = &workflows["herald-review.yml"];
    let apply = &workflows["herald-apply.yml"];
    assert_eq!(
        apply["concurrency"]["cancel-in-progress"],
        Value::Bool(false),
        "an apply is never cancelled while it sends"
    );
    assert!(apply["concurrency"]["group"].is_string());
    assert_eq!(apply["on"]["schedule"][0]["cron"], "*/15 * * * *");

    // The project on main, as the docs configure it: PostgreSQL state, the URL a secret.
    let emulator = Emulator::start();
    let state = Fixture::postgres();
    let Fixture::Postgres { url, schema } = &state else {
        unreachable!("a PostgreSQL fixture")
    };
    let upstream = Project::example();
    upstream.edit(
        "herald.yaml",
        "base_url: https://api.engati.ai",
        &format!("base_url: {}", emulator.running.base_url()),
    );
    upstream.edit(
        "herald.yaml",
        "  backend: sqlite                          # .herald/state.db, git-ignored\n",
        &format!("  backend: postgres\n  url_env: HERALD_STATE_URL\n  schema: {schema}\n"),
    );
    git(upstream.path(), &["init", "-q", "-b", "main"]);
    git(upstream.path(), &["add", "-A"]);
    git(
        upstream.path(),
        &["commit", "-q", "--no-gpg-sign", "-m", "campaigns"],
    );

    // actions/checkout: a clone, with origin/main to compare with.
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let work = scratch.path().join("work");
    git(
        scratch.path(),
        &[
            "clone",
            "-q",
            &upstream.path().display().to_string(),
            "work",
        ],
    );
    let summary = scratch.path().join("step-summary.md");
    let herald_dir = Path::new(env!("CARGO_BIN_EXE_herald"))
        .parent()
        .expect("the binary's directory");
    let path = format!(
        "{}:{}",
        herald_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let runner = Runner {
        work: work.clone(),
        env: [
            ("PATH", path.as_str()),
            ("HOME", &scratch.path().display().to_string()),
            ("GITHUB_ACTIONS", "true"),
            ("CI", "true"),
            ("NO_COLOR", "1"),
            ("GITHUB_STEP_SUMMARY", &summary.display().to_string()),
            ("RUNNER_TEMP", &scratch.path().display().to_string()),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("TEST_STATE_URL", url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        summary: summary.clone(),
    };

    // The first apply on main sends what is due.
    let ran = runner.run(apply, &[("GITHUB_EVENT_NAME", "push")]);
    assert_eq!(ran, ["Plan", "Apply exactly that plan"]);
    let first = emulator.sends();
    assert!(!first.is_empty(), "the first apply sends what is due");

    // A pull request adds a tester: the review shows it and sends nothing.
    git(&work, &["checkout", "-q", "-b", "add-a-tester"]);
    let audiences = work.join("campaigns/audiences.yaml");
    let text = std::fs::read_to_string(&audiences).expect("audiences.yaml");
    let tester = r#"      - {phone: "+919178921978", first_name: jahnavi, invoice_no: "12346"}"#;
    assert!(text.contains(tester));
    let added = format!(
        "{tester}\n      - {{phone: \"+919999900001\", first_name: zed, invoice_no: \"40099\"}}"
    );
    std::fs::write(&audiences, text.replacen(tester, &added, 1)).expect("written");
    git(
        &work,
        &["commit", "-q", "--no-gpg-sign", "-am", "add a tester"],
    );
    std::fs::write(&summary, "").expect("summary reset");
    let ran = runner.run(
        review,
        &[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_BASE_REF", "main"),
        ],
    );
    assert_eq!(
        ran,
        [
            "Validate",
            "Diff the rendered messages",
            "Plan against production state"
        ]
    );
    assert_eq!(
        emulator.sends(),
        first,
        "a pull request's review sends nothing"
    );
    let comment = std::fs::read_to_string(work.join("comment.md")).expect("comment.md");
    assert!(comment.starts_with("### herald diff"), "{comment}");
    assert!(
        comment.contains("| feedback-flow | changed | 0 | 1 | 0 | 2 |"),
        "the diff counts the new tester: {comment}"
    );
    assert!(comment.contains("### herald plan"), "{comment}");
    assert!(
        !comment.contains("9999900001") && !comment.contains("zed"),
        "the comment is redacted: {comment}"
    );
    let page = std::fs::read_to_string(&runner.summary).expect("the step summary");
    assert!(page.contains("### herald diff") && page.contains("### herald plan"));

    // Merged: the push to main applies exactly the new delivery.
    git(&work, &["checkout", "-q", "main"]);
    git(&work, &["merge", "-q", "--ff-only", "add-a-tester"]);
    std::fs::remove_file(work.join("comment.md")).expect("removed");
    runner.run(apply, &[("GITHUB_EVENT_NAME", "push")]);
    let after_merge = emulator.sends();
    let new: Vec<&String> = after_merge[first.len()..].iter().collect();
    assert_eq!(new.len(), 1, "only the new tester is messaged: {new:?}");
    assert!(new[0].contains("+919999900001"), "{new:?}");

    // The scheduled run a quarter of an hour later finds nothing new.
    runner.run(apply, &[("GITHUB_EVENT_NAME", "schedule")]);
    assert_eq!(emulator.sends(), after_merge, "nobody is messaged twice");
}
