//! The pipelines of docs/ci.md, run step by step against the emulator and a real PostgreSQL
//! server, so that they cannot rot: a pull request is reviewed (and sends nothing), merged,
//! applied, and a scheduled run then sends nothing more.
//!
//! GitHub steps that `uses:` an action (checkout, the comment) and the ones that install herald
//! (they need the network) are skipped, as is GitLab's `before_script` (the install); the test
//! plays their part: the repository is cloned, the freshly built herald is on PATH. Every
//! `${{ }}` expression and `if:` condition in the workflows must be one this file knows how to
//! evaluate, so a new one fails loudly here.

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

/// The pipeline files in docs/ci.md: each `yaml` block whose first line names its file
/// (`# .github/workflows/herald-review.yml`, `# .gitlab-ci.yml`), by that name.
fn documented_files() -> BTreeMap<String, Value> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md");
    let text = std::fs::read_to_string(docs).expect("docs/ci.md exists");
    let mut workflows = BTreeMap::new();
    for block in text.split("```yaml\n").skip(1) {
        let Some((body, _)) = block.split_once("\n```") else {
            panic!("an unclosed yaml block in docs/ci.md");
        };
        let Some(name) = body.lines().next().and_then(|l| l.strip_prefix("# ")) else {
            continue;
        };
        let name = name.split_whitespace().next().unwrap_or_default();
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
            "secrets.HERALD_REVIEW_STATE_URL" => self.env["TEST_REVIEW_STATE_URL"].clone(),
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
                self.shell(
                    &script,
                    &step_env,
                    &format!("job {job_name}, step {name:?}"),
                );
                ran.push(name.to_owned());
            }
        }
        ran
    }
}

impl Runner {
    /// Runs `script` as GitHub's and GitLab's bash shells do (stop at the first failure);
    /// asserts it succeeds and returns its standard output.
    fn shell(&self, script: &str, env: &BTreeMap<String, String>, what: &str) -> String {
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(&self.work)
            .env_clear()
            .envs(env)
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{what} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Runs a GitLab job's `script` lines (not its `before_script`, the install) with the
    /// pipeline's `variables` and these; returns what they printed.
    fn run_gitlab_job(&self, pipeline: &Value, job: &str, extra: &[(&str, &str)]) -> String {
        let mut env = self.env.clone();
        if let Some(variables) = pipeline["variables"].as_object() {
            for (k, v) in variables {
                env.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
            }
        }
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let lines: Vec<&str> = pipeline[job]["script"]
            .as_array()
            .unwrap_or_else(|| panic!("job {job} has a script"))
            .iter()
            .map(|line| line.as_str().expect("script lines are strings"))
            .collect();
        self.shell(&lines.join("\n"), &env, &format!("GitLab job {job}"))
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

/// The example project on `main` as docs/ci.md configures it (PostgreSQL state, the URL a
/// secret), a clone of it to run pipelines in, the emulator it sends to.
struct Pipeline {
    emulator: Emulator,
    runner: Runner,
    /// The review job's read-only role, dropped with the pipeline.
    review_role: String,
    _state: Fixture,
    _upstream: Project,
    _scratch: tempfile::TempDir,
}

impl Pipeline {
    fn new() -> Pipeline {
        let emulator = Emulator::start();
        let state = Fixture::postgres();
        let Fixture::Postgres { url, schema } = &state else {
            unreachable!("a PostgreSQL fixture")
        };
        // The review job's role: it may log in, and reads only once granted (docs/ci.md).
        let review_role = format!("herald_review_{:08x}", fastrand::u32(..));
        let mut admin = postgres::Client::connect(url, postgres::NoTls).expect("the server");
        admin
            .batch_execute(&format!("CREATE ROLE {review_role} LOGIN"))
            .expect("a role");
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let host = rest.split_once('@').map_or(rest, |(_, host)| host);
        let review_url = format!("{scheme}://{review_role}@{host}");
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

        // The checkout: a clone, with origin/main to compare with.
        let scratch = tempfile::tempdir().expect("a temporary directory");
        let upstream_dir = upstream.path().display().to_string();
        git(scratch.path(), &["clone", "-q", &upstream_dir, "work"]);
        let herald_dir = Path::new(env!("CARGO_BIN_EXE_herald"))
            .parent()
            .expect("the binary's directory");
        let path = format!(
            "{}:{}",
            herald_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let temp = scratch.path().display().to_string();
        let summary = scratch.path().join("step-summary.md");
        let runner = Runner {
            work: scratch.path().join("work"),
            env: [
                ("PATH", path.as_str()),
                ("HOME", &temp),
                ("CI", "true"),
                ("NO_COLOR", "1"),
                ("GIT_CONFIG_GLOBAL", "/dev/null"),
                ("TEST_STATE_URL", url.as_str()),
                ("TEST_REVIEW_STATE_URL", review_url.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            summary,
        };
        Pipeline {
            emulator,
            runner,
            review_role,
            _state: state,
            _upstream: upstream,
            _scratch: scratch,
        }
    }

    fn work(&self) -> &Path {
        &self.runner.work
    }

    /// Runs herald in the checkout with the apply job's secrets.
    fn herald_as(&self, url: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .current_dir(self.work())
            .env("HERALD_STATE_URL", url)
            .env("ENGATI_API_KEY", BUILTIN_API_KEY)
            .env("NO_COLOR", "1")
            .output()
            .expect("herald runs")
    }

    /// A branch that adds a tester to the `testers` audience (whom `feedback-flow`, due now,
    /// messages).
    fn branch_adding_a_tester(&self) {
        let work = self.work();
        git(work, &["checkout", "-q", "-b", "add-a-tester"]);
        let audiences = work.join("campaigns/audiences.yaml");
        let text = std::fs::read_to_string(&audiences).expect("audiences.yaml");
        let tester =
            r#"      - {phone: "+919178921978", first_name: jahnavi, invoice_no: "12346"}"#;
        assert!(text.contains(tester));
        let added = format!(
            "{tester}\n      - {{phone: \"+919999900001\", first_name: zed, invoice_no: \"40099\"}}"
        );
        std::fs::write(&audiences, text.replacen(tester, &added, 1)).expect("written");
        git(
            work,
            &["commit", "-q", "--no-gpg-sign", "-am", "add a tester"],
        );
    }

    fn merge(&self) {
        git(self.work(), &["checkout", "-q", "main"]);
        git(self.work(), &["merge", "-q", "--ff-only", "add-a-tester"]);
    }

    /// The sends since `before`, which must be exactly one: to the new tester.
    fn only_the_new_tester_since(&self, before: &[String]) -> Vec<String> {
        let now = self.emulator.sends();
        let new = &now[before.len()..];
        assert_eq!(new.len(), 1, "only the new tester is messaged: {new:?}");
        assert!(new[0].contains("+919999900001"), "{new:?}");
        now
    }
}

#[test]
fn the_documented_github_workflows_review_merge_and_apply() {
    let files = documented_files();
    let review = &files[".github/workflows/herald-review.yml"];
    let apply = &files[".github/workflows/herald-apply.yml"];
    assert_eq!(
        apply["concurrency"]["cancel-in-progress"],
        Value::Bool(false),
        "an apply is never cancelled while it sends"
    );
    assert!(apply["concurrency"]["group"].is_string());
    assert_eq!(apply["on"]["schedule"][0]["cron"], "*/15 * * * *");
    let pipeline = Pipeline::new();
    let (runner, work) = (&pipeline.runner, pipeline.work());
    let summary = runner.summary.display().to_string();
    let github = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.as_str()),
    ];

    // The first apply on main sends what is due.
    let ran = runner.run(
        apply,
        &[&github[..], &[("GITHUB_EVENT_NAME", "push")]].concat(),
    );
    assert_eq!(ran, ["Plan", "Apply exactly that plan"]);
    let first = pipeline.emulator.sends();
    assert!(!first.is_empty(), "the first apply sends what is due");

    // Once, as docs/ci.md says: the review job's role may read the state, and nothing more.
    let owner = runner.env["TEST_STATE_URL"].clone();
    let granted = pipeline.herald_as(&owner, &["state", "grant-read", &pipeline.review_role]);
    assert_eq!(granted.status.code(), Some(0), "{granted:?}");

    // A pull request adds a tester: the review shows it and sends nothing.
    pipeline.branch_adding_a_tester();
    // Its files could try to apply with the review's state URL: refused, nothing sent.
    let review_url = runner.env["TEST_REVIEW_STATE_URL"].clone();
    let refused = pipeline.herald_as(&review_url, &["apply", "--auto-approve"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("permission denied"),
        "{refused:?}"
    );
    assert_eq!(pipeline.emulator.sends(), first);
    std::fs::write(&runner.summary, "").expect("summary reset");
    let pull_request = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_BASE_REF", "main"),
    ];
    let ran = runner.run(review, &[&github[..], &pull_request[..]].concat());
    assert_eq!(
        ran,
        [
            "Validate",
            "Diff the rendered messages",
            "Plan against production state"
        ]
    );
    assert_eq!(
        pipeline.emulator.sends(),
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
    pipeline.merge();
    std::fs::remove_file(work.join("comment.md")).expect("removed");
    runner.run(
        apply,
        &[&github[..], &[("GITHUB_EVENT_NAME", "push")]].concat(),
    );
    let after_merge = pipeline.only_the_new_tester_since(&first);

    // The scheduled run a quarter of an hour later finds nothing new.
    runner.run(
        apply,
        &[&github[..], &[("GITHUB_EVENT_NAME", "schedule")]].concat(),
    );
    assert_eq!(
        pipeline.emulator.sends(),
        after_merge,
        "nobody is messaged twice"
    );
}

#[test]
fn the_documented_gitlab_pipeline_reviews_a_fork_and_applies_once() {
    let files = documented_files();
    let pipeline_file = &files[".gitlab-ci.yml"];
    assert_eq!(pipeline_file["apply"]["resource_group"], "herald-apply");
    let pipeline = Pipeline::new();
    let (runner, work) = (&pipeline.runner, pipeline.work());
    let secrets = [
        ("ENGATI_API_KEY", BUILTIN_API_KEY),
        ("HERALD_STATE_URL", runner.env["TEST_STATE_URL"].as_str()),
    ];
    let on_main = [
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_DEFAULT_BRANCH", "main"),
    ];
    runner.run_gitlab_job(
        pipeline_file,
        "apply",
        &[&secrets[..], &on_main[..]].concat(),
    );
    let first = pipeline.emulator.sends();
    assert!(!first.is_empty(), "the first apply sends what is due");

    // A merge request from a fork: no protected variables, so no plan; the diff still runs.
    pipeline.branch_adding_a_tester();
    let output = runner.run_gitlab_job(
        pipeline_file,
        "review",
        &[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ],
    );
    assert!(
        output.contains("campaign feedback-flow — changed"),
        "{output}"
    );
    assert!(
        !output.contains("herald plan"),
        "no plan without the state: {output}"
    );
    let report = std::fs::read_to_string(work.join("gl-code-quality-report.json"))
        .expect("the Code Quality report");
    assert_eq!(report.trim(), "[]", "a valid project has no findings");
    assert_eq!(pipeline.emulator.sends(), first, "a review sends nothing");

    // Merged, then the schedule: one new delivery, then none.
    pipeline.merge();
    runner.run_gitlab_job(
        pipeline_file,
        "apply",
        &[&secrets[..], &on_main[..]].concat(),
    );
    let after_merge = pipeline.only_the_new_tester_since(&first);
    let scheduled = [("CI_PIPELINE_SOURCE", "schedule")];
    runner.run_gitlab_job(
        pipeline_file,
        "apply",
        &[&secrets[..], &scheduled[..]].concat(),
    );
    assert_eq!(
        pipeline.emulator.sends(),
        after_merge,
        "nobody is messaged twice"
    );
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let Fixture::Postgres { url, .. } = &self._state else {
            return;
        };
        if let Ok(mut admin) = postgres::Client::connect(url, postgres::NoTls) {
            let role = &self.review_role;
            let _ = admin.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
        }
    }
}
