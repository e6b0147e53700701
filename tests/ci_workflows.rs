//! The pipelines of docs/ci.md, run step by step against the emulator and a real PostgreSQL
//! server, so that they cannot rot: a pull request is reviewed (and sends nothing), its plan
//! kept; the merge applies exactly that plan, or, when it went stale, sends nothing, plans
//! again, posts the new plan and waits for approval; a scheduled run then sends nothing more.
//!
//! GitHub steps that `uses:` checkout or the comment action, and the ones that install herald
//! (they need the network), are skipped, as is GitLab's `before_script` (the install); the test
//! plays their part: the repository is cloned, the freshly built herald is on PATH. The
//! artifact actions are played against a directory standing in for GitHub, which a stand-in
//! `gh` on PATH answers from too (runs, artifacts, the pull request a commit came from,
//! comments); jobs for an environment with required reviewers wait until the test approves.
//! Every `${{ }}` expression, `if:` condition and `gh` call in the workflows must be one this
//! file knows how to evaluate, so a new one fails loudly here.

mod plan_support;
mod state_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use herald::diagnostic::SourceText;
use herald::emulator::{self, BUILTIN_API_KEY, Faults, Running, Seed};
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
    /// GitHub's side of the runs, as the stand-in `gh` sees it.
    github: GitHub,
}

/// The GitHub a workflow runs against, played by the test: its workflow runs and their
/// artifacts, which pull request a commit on main came from, and the comments posted. It lives
/// in a directory that the stand-in `gh` on the runners' PATH reads and writes too.
struct GitHub {
    dir: PathBuf,
    runs: std::cell::RefCell<Vec<Value>>,
}

/// The stand-in for GitHub's CLI: the calls docs/ci.md makes, answered from `$FAKE_GITHUB` as
/// GitHub's API would, with `--jq` run by jq (gh's own filter language); anything else fails
/// loudly, so a new call in the docs needs a new answer here.
const FAKE_GH: &str = r#"#!/bin/bash
set -euo pipefail
: "${GH_TOKEN:?gh: set GH_TOKEN to github.token for gh in a workflow}"
store=$FAKE_GITHUB
echo "gh $*" >> "$store/calls.log"
filter() { if [ -n "$jq" ]; then jq -r "$jq"; else cat; fi; }
group="$1 ${2:-}"
shift 2
jq="" name="" dir="." workflow="" commit="" status="" limit=20 body="" positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --jq) jq=$2; shift 2 ;;
    --name|-n) name=$2; shift 2 ;;
    --dir|-D) dir=$2; shift 2 ;;
    --workflow|-w) workflow=$2; shift 2 ;;
    --commit|-c) commit=$2; shift 2 ;;
    --status|-s) status=$2; shift 2 ;;
    --limit|-L) limit=$2; shift 2 ;;
    --json) shift 2 ;;
    --body-file|-F) body=$2; shift 2 ;;
    -*) echo "fake gh: unknown flag $1" >&2; exit 99 ;;
    *) positional+=("$1"); shift ;;
  esac
done
case "$group" in
  "api repos/"*/commits/*/pulls)
    path=${group#api }; sha=${path%/pulls}; sha=${sha##*/}
    { cat "$store/pulls/$sha.json" 2>/dev/null || echo '[]'; } | filter ;;
  "run list")
    jq --arg w "$workflow" --arg c "$commit" --arg s "$status" --argjson l "$limit" \
      '[reverse[] | select(.workflow == $w and ($c == "" or .headSha == $c)
        and ($s == "" or .conclusion == $s or .status == $s))][:$l]' "$store/runs.json" | filter ;;
  "run download")
    from="$store/artifacts/${positional[0]}/$name"
    if [ ! -d "$from" ]; then echo "no valid artifacts found to download" >&2; exit 1; fi
    mkdir -p "$dir" && cp -R "$from/." "$dir/" ;;
  "pr comment")
    mkdir -p "$store/comments" && cat "$body" >> "$store/comments/${positional[0]}.md" ;;
  *) echo "fake gh: no answer for: gh $group $*" >&2; exit 99 ;;
esac
"#;

impl GitHub {
    fn new(dir: PathBuf) -> GitHub {
        std::fs::create_dir_all(dir.join("bin")).expect("a directory");
        std::fs::create_dir_all(dir.join("pulls")).expect("a directory");
        let gh = dir.join("bin/gh");
        std::fs::write(&gh, FAKE_GH).expect("gh written");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let github = GitHub {
            dir,
            runs: std::cell::RefCell::new(Vec::new()),
        };
        github.save_runs();
        github
    }

    fn save_runs(&self) {
        let runs = Value::Array(self.runs.borrow().clone());
        std::fs::write(self.dir.join("runs.json"), runs.to_string()).expect("runs written");
    }

    /// Records a run as `gh run list` lists it: completed, or waiting for approval.
    fn record(&self, run: &Run, workflow: &str) {
        let (status, conclusion) = match run.waiting.is_empty() {
            true => ("completed", Value::from("success")),
            false => ("waiting", Value::Null),
        };
        let record = serde_json::json!({
            "databaseId": run.id,
            "workflow": workflow,
            "event": run.event,
            "headSha": run.head_sha,
            "status": status,
            "conclusion": conclusion,
        });
        let mut runs = self.runs.borrow_mut();
        match runs.iter_mut().find(|r| r["databaseId"] == run.id) {
            Some(known) => *known = record,
            None => runs.push(record),
        }
        drop(runs);
        self.save_runs();
    }

    /// Says that `commit` on main came from pull request `number`, whose head was `head`.
    fn merged(&self, commit: &str, number: u64, head: &str) {
        let pulls =
            serde_json::json!([{"number": number, "head": {"sha": head}, "state": "closed"}]);
        std::fs::write(
            self.dir.join(format!("pulls/{commit}.json")),
            pulls.to_string(),
        )
        .expect("written");
    }

    fn artifact(&self, run: u64, name: &str) -> PathBuf {
        self.dir.join(format!("artifacts/{run}/{name}"))
    }

    /// What was commented on pull request `number`.
    fn comments(&self, number: u64) -> String {
        std::fs::read_to_string(self.dir.join(format!("comments/{number}.md"))).unwrap_or_default()
    }
}

/// One workflow run: what GitHub knows of it, and what its jobs did.
struct Run {
    id: u64,
    /// The workflow's file name.
    workflow_file: String,
    event: String,
    /// The commit checked out (`github.sha`).
    sha: String,
    /// The commit `gh run list --commit` finds it by: a pull request's head, else `sha`.
    head_sha: String,
    /// The steps run, in order, by name.
    ran: Vec<String>,
    /// Each finished job's outputs.
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Jobs waiting for an environment's required reviewers.
    waiting: Vec<String>,
    /// Everything the steps printed, stdout then stderr per step.
    log: String,
}

/// The environments whose jobs wait for a reviewer (docs/ci.md asks for required reviewers).
const APPROVAL_ENVIRONMENTS: [&str; 1] = ["production-approval"];

/// What a step's expressions see.
struct Context<'a> {
    run: &'a Run,
    steps: BTreeMap<String, BTreeMap<String, String>>,
}

impl Runner {
    /// `${{ expression }}` as GitHub would evaluate it for a pull request from the repository
    /// itself (or a push to main).
    fn evaluate(&self, expression: &str, context: &Context<'_>) -> String {
        let expression = expression.trim();
        let output = |map: &BTreeMap<String, BTreeMap<String, String>>, rest: &str| {
            let (id, key) = rest.split_once(".outputs.").unwrap_or_else(|| {
                panic!("docs/ci.md uses `{expression}`, which this test cannot evaluate")
            });
            map.get(id)
                .and_then(|outputs| outputs.get(key))
                .cloned()
                .unwrap_or_default()
        };
        if let Some(rest) = expression.strip_prefix("steps.") {
            return output(&context.steps, rest);
        }
        if let Some(rest) = expression.strip_prefix("needs.") {
            return output(&context.run.outputs, rest);
        }
        match expression {
            "secrets.ENGATI_API_KEY" | "secrets.ENGATI_REVIEW_API_KEY" => {
                BUILTIN_API_KEY.to_owned()
            }
            "secrets.HERALD_STATE_URL" => self.env["TEST_STATE_URL"].clone(),
            "secrets.HERALD_REVIEW_STATE_URL" => self.env["TEST_REVIEW_STATE_URL"].clone(),
            "github.token" => "github-token-of-the-run".to_owned(),
            "github.sha" => context.run.sha.clone(),
            "github.event.pull_request.head.sha" => context.run.head_sha.clone(),
            other => {
                panic!("docs/ci.md uses `${{{{ {other} }}}}`, which this test cannot evaluate")
            }
        }
    }

    /// An `if:` condition: `||` of `&&` of comparisons with a quoted string, or one this test
    /// knows.
    fn condition(&self, condition: &str, context: &Context<'_>) -> bool {
        condition.split("||").any(|all| {
            all.split("&&").all(|atom| match atom.trim() {
                // Same-repository pull requests; forks are covered by herald diff's own tests.
                "github.event.pull_request.head.repo.full_name == github.repository" => true,
                "always()" => true,
                atom => {
                    let (left, equal, right) = if let Some((l, r)) = atom.split_once("!=") {
                        (l, false, r)
                    } else if let Some((l, r)) = atom.split_once("==") {
                        (l, true, r)
                    } else {
                        panic!(
                            "docs/ci.md has the condition `{atom}`, which this test cannot evaluate"
                        )
                    };
                    let literal = right
                        .trim()
                        .strip_prefix('\'')
                        .and_then(|r| r.strip_suffix('\''));
                    let Some(literal) = literal else {
                        panic!("docs/ci.md compares `{atom}` with something other than a string")
                    };
                    (self.evaluate(left, context) == literal) == equal
                }
            })
        })
    }

    fn substitute(&self, text: &str, context: &Context<'_>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                panic!("an unclosed expression in {text:?}");
            };
            out.push_str(&self.evaluate(&rest[start + 3..start + end], context));
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Runs a workflow's jobs in the order their `needs` allow, as GitHub would for `event` on
    /// the commit checked out; a job for an environment with required reviewers waits (see
    /// [`Runner::approve`]). `workflow_file` is the name `gh run list --workflow` knows it by.
    fn run(
        &self,
        workflow: &Value,
        workflow_file: &str,
        event: &str,
        extra: &[(&str, &str)],
    ) -> Run {
        let sha = git(&self.work, &["rev-parse", "HEAD"]).trim().to_owned();
        let mut run = Run {
            id: 1000 + self.github.runs.borrow().len() as u64,
            workflow_file: workflow_file.to_owned(),
            event: event.to_owned(),
            head_sha: sha.clone(),
            sha,
            ran: Vec::new(),
            outputs: BTreeMap::new(),
            waiting: Vec::new(),
            log: String::new(),
        };
        let jobs = workflow["jobs"].as_object().expect("the workflow has jobs");
        let mut pending: Vec<&String> = jobs.keys().collect();
        while !pending.is_empty() {
            let ready = pending.iter().position(|name| {
                needs(&jobs[name.as_str()])
                    .iter()
                    .all(|need| run.outputs.contains_key(need))
            });
            let Some(ready) = ready else { break };
            let name = pending.remove(ready);
            let job = &jobs[name.as_str()];
            let environment = job["environment"].as_str().unwrap_or_default();
            if APPROVAL_ENVIRONMENTS.contains(&environment) && self.job_runs(job, &run) {
                run.waiting.push(name.clone());
                continue;
            }
            self.run_job(workflow, name, event, extra, &mut run);
        }
        self.github.record(&run, workflow_file);
        run
    }

    /// A reviewer approves the jobs of `run` waiting for one: they run now.
    fn approve(&self, workflow: &Value, run: &mut Run, extra: &[(&str, &str)]) {
        let waiting = std::mem::take(&mut run.waiting);
        assert!(
            !waiting.is_empty(),
            "no job of run {} waits for approval",
            run.id
        );
        let event = run.event.clone();
        for name in &waiting {
            self.run_job(workflow, name, &event, extra, run);
        }
        self.github.record(run, &run.workflow_file);
    }

    fn job_runs(&self, job: &Value, run: &Run) -> bool {
        let context = Context {
            run,
            steps: BTreeMap::new(),
        };
        job["if"]
            .as_str()
            .is_none_or(|condition| self.condition(condition, &context))
    }

    /// Runs one job's steps, as GitHub's bash shell does; `uses:` steps that keep and fetch
    /// artifacts are played against [`GitHub`], checkout and the comment action are the test's
    /// part, as is the install.
    fn run_job(
        &self,
        workflow: &Value,
        job_name: &str,
        event: &str,
        extra: &[(&str, &str)],
        run: &mut Run,
    ) {
        let job = &workflow["jobs"][job_name];
        let mut outputs = BTreeMap::new();
        if self.job_runs(job, run) {
            let mut context = Context {
                run,
                steps: BTreeMap::new(),
            };
            let mut env: BTreeMap<String, String> = self.env.clone();
            let run_id = context.run.id.to_string();
            let github_env = [
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", event),
                ("GITHUB_SHA", context.run.sha.as_str()),
                ("GITHUB_REPOSITORY", "your-org/campaigns"),
                ("GITHUB_RUN_ID", run_id.as_str()),
                ("GITHUB_STEP_SUMMARY", &self.summary.display().to_string()),
                ("FAKE_GITHUB", &self.github.dir.display().to_string()),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
            env.extend(github_env);
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let strings = |value: &Value, context: &Context<'_>| -> Vec<(String, String)> {
                value
                    .as_object()
                    .map(|map| {
                        map.iter()
                            .map(|(k, v)| {
                                // Numbers and booleans are strings to an action's inputs.
                                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                                (k.clone(), self.substitute(&text, context))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            env.extend(strings(&workflow["env"], &context));
            env.extend(strings(&job["env"], &context));
            let mut ran = Vec::new();
            let mut log = String::new();
            for (index, step) in job["steps"]
                .as_array()
                .expect("the job has steps")
                .iter()
                .enumerate()
            {
                let name = step["name"].as_str().unwrap_or("(unnamed)");
                let uses = step["uses"].as_str().unwrap_or_default();
                if name == "Install herald"
                    || uses.starts_with("actions/checkout@")
                    || uses.starts_with("marocchino/sticky-pull-request-comment@")
                {
                    continue;
                }
                if let Some(condition) = step["if"].as_str()
                    && !self.condition(condition, &context)
                {
                    continue;
                }
                ran.push(name.to_owned());
                let with = strings(&step["with"], &context);
                let with: BTreeMap<String, String> = with.into_iter().collect();
                if let Some(kind) = uses.split_once('@').map(|(action, _)| action) {
                    self.artifact_step(kind, &with, context.run.id);
                    continue;
                }
                let mut step_env = env.clone();
                step_env.extend(strings(&step["env"], &context));
                let output_file = self
                    .github
                    .dir
                    .join(format!("output-{}-{job_name}-{index}", context.run.id));
                std::fs::write(&output_file, "").expect("GITHUB_OUTPUT");
                step_env.insert(
                    "GITHUB_OUTPUT".to_owned(),
                    output_file.display().to_string(),
                );
                let script = self.substitute(step["run"].as_str().expect("a run step"), &context);
                let (stdout, stderr) = self.shell(
                    &script,
                    &step_env,
                    &format!("job {job_name}, step {name:?}"),
                );
                log.push_str(&stdout);
                log.push_str(&stderr);
                let written = std::fs::read_to_string(&output_file).expect("GITHUB_OUTPUT");
                let step_outputs: BTreeMap<String, String> = written
                    .lines()
                    .filter_map(|line| line.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                if let Some(id) = step["id"].as_str() {
                    context.steps.insert(id.to_owned(), step_outputs);
                }
            }
            outputs = strings(&job["outputs"], &context).into_iter().collect();
            run.ran.extend(ran);
            run.log.push_str(&log);
        }
        run.outputs.insert(job_name.to_owned(), outputs);
    }

    /// `actions/upload-artifact` and `actions/download-artifact`, against [`GitHub`]'s store.
    fn artifact_step(&self, action: &str, with: &BTreeMap<String, String>, run: u64) {
        let name = &with["name"];
        let store = self.github.artifact(run, name);
        match action {
            "actions/upload-artifact" => {
                let path = self.work.join(&with["path"]);
                if !path.is_file() {
                    assert_ne!(
                        with.get("if-no-files-found").map(String::as_str),
                        Some("error"),
                        "no {} to upload as {name}",
                        path.display()
                    );
                    return;
                }
                assert!(
                    with["retention-days"]
                        .parse::<u32>()
                        .is_ok_and(|days| days <= 30),
                    "a plan artifact (phones and messages) is kept a short while"
                );
                std::fs::create_dir_all(&store).expect("a directory");
                let file = path.file_name().expect("a file name");
                std::fs::copy(&path, store.join(file)).expect("uploaded");
            }
            "actions/download-artifact" => {
                let into = self.work.join(with.get("path").map_or(".", String::as_str));
                std::fs::create_dir_all(&into).expect("a directory");
                for entry in std::fs::read_dir(&store).expect("the artifact exists") {
                    let entry = entry.expect("an entry");
                    std::fs::copy(entry.path(), into.join(entry.file_name())).expect("downloaded");
                }
            }
            other => panic!("docs/ci.md uses the action {other}, which this test cannot play"),
        }
    }
}

/// A job's `needs`, one name or a list.
fn needs(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl Runner {
    /// Runs `script` as GitHub's and GitLab's bash shells do (stop at the first failure);
    /// asserts it succeeds and returns its standard output and error.
    fn shell(&self, script: &str, env: &BTreeMap<String, String>, what: &str) -> (String, String) {
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(&self.work)
            .env_clear()
            .envs(env)
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "{what} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            output.status,
        );
        (stdout, stderr)
    }

    /// Runs a GitLab job's `script` lines (not its `before_script`, the install) with the
    /// pipeline's `variables` and these, as GitLab's bash does (one shell, stop at the first
    /// failure); asserts it succeeds, or fails with an exit code its `allow_failure` allows.
    /// Returns what it printed and its exit code.
    fn run_gitlab_job(&self, pipeline: &Value, job: &str, extra: &[(&str, &str)]) -> (String, i32) {
        let mut env = self.env.clone();
        if let Some(variables) = pipeline["variables"].as_object() {
            for (k, v) in variables {
                env.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
            }
        }
        let sha = git(&self.work, &["rev-parse", "HEAD"]).trim().to_owned();
        env.insert("CI_COMMIT_SHA".to_owned(), sha);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let lines: Vec<&str> = pipeline[job]["script"]
            .as_array()
            .unwrap_or_else(|| panic!("job {job} has a script"))
            .iter()
            .map(|line| {
                line.as_str()
                    .unwrap_or_else(|| panic!("job {job}: a script line is not a string: {line}"))
            })
            .collect();
        let output = Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                "-c",
                &lines.join("\n"),
            ])
            .current_dir(&self.work)
            .env_clear()
            .envs(&env)
            .output()
            .expect("bash runs");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let code = output.status.code().unwrap_or(-1);
        let allowed: Vec<i64> = pipeline[job]["allow_failure"]["exit_codes"]
            .as_array()
            .map(|codes| codes.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        assert!(
            code == 0 || allowed.contains(&i64::from(code)),
            "GitLab job {job} failed ({})\n{printed}",
            output.status
        );
        (printed, code)
    }
}

/// GitLab's API as the documented apply job calls it, on loopback: the merge request a commit
/// came from, a merge request's job artifacts by ref, and notes. Calls without the token are
/// refused, as GitLab refuses them.
struct GitLab {
    url: String,
    state: Arc<std::sync::Mutex<GitLabState>>,
}

#[derive(Default)]
struct GitLabState {
    /// Commit on main → (merge request iid, its head commit).
    merged: BTreeMap<String, (u64, String)>,
    /// (ref, path) → the file a review job kept.
    artifacts: BTreeMap<(String, String), Vec<u8>>,
    /// Merge request iid → the notes posted, in order.
    notes: BTreeMap<u64, Vec<String>>,
}

const GITLAB_TOKEN: &str = "glpat-test-token";
const GITLAB_PROJECT: &str = "42";

impl GitLab {
    fn start() -> GitLab {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!(
            "http://{}/api/v4",
            listener.local_addr().expect("an address")
        );
        let state = Arc::new(std::sync::Mutex::new(GitLabState::default()));
        let serving = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = GitLab::answer(stream, &serving);
            }
        });
        GitLab { url, state }
    }

    fn answer(
        mut stream: std::net::TcpStream,
        state: &std::sync::Mutex<GitLabState>,
    ) -> std::io::Result<()> {
        use std::io::{BufRead, BufReader, Read, Write};
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let (mut length, mut token) = (0usize, None);
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "private-token" => token = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let (status, answer): (u16, Vec<u8>) = if token.as_deref() != Some(GITLAB_TOKEN) {
            (401, br#"{"message":"401 Unauthorized"}"#.to_vec())
        } else {
            GitLab::route(
                &method,
                &target,
                &body,
                &mut state.lock().expect("the state"),
            )
        };
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            answer.len()
        )?;
        stream.write_all(&answer)
    }

    fn route(method: &str, target: &str, body: &[u8], state: &mut GitLabState) -> (u16, Vec<u8>) {
        let not_found = (404, br#"{"message":"404 Not Found"}"#.to_vec());
        let prefix = format!("/api/v4/projects/{GITLAB_PROJECT}/");
        let Some(path) = target.strip_prefix(&prefix) else {
            return not_found;
        };
        let segments: Vec<&str> = path.split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["repository", "commits", sha, "merge_requests"]) => {
                let found = state.merged.get(*sha).map(
                    |(iid, head)| serde_json::json!([{"iid": iid, "sha": head, "state": "merged"}]),
                );
                (
                    200,
                    found
                        .unwrap_or(serde_json::json!([]))
                        .to_string()
                        .into_bytes(),
                )
            }
            ("GET", ["jobs", "artifacts", reference, "raw", file]) => {
                let (file, query) = file.split_once('?').unwrap_or((file, ""));
                if query != "job=review" {
                    return not_found;
                }
                let reference = reference.replace("%2F", "/");
                match state.artifacts.get(&(reference, (*file).to_owned())) {
                    Some(bytes) => (200, bytes.clone()),
                    None => not_found,
                }
            }
            ("POST", ["merge_requests", iid, "notes"]) => {
                let form = String::from_utf8_lossy(body);
                let Some(note) = form.strip_prefix("body=") else {
                    return (400, br#"{"message":"body is missing"}"#.to_vec());
                };
                let Ok(iid) = iid.parse::<u64>() else {
                    return not_found;
                };
                state
                    .notes
                    .entry(iid)
                    .or_default()
                    .push(percent_decode(note));
                (201, br#"{"id":1}"#.to_vec())
            }
            _ => not_found,
        }
    }

    /// The variables a GitLab job gets to reach this API.
    fn variables(&self) -> [(&str, &str); 3] {
        [
            ("CI_API_V4_URL", self.url.as_str()),
            ("CI_PROJECT_ID", GITLAB_PROJECT),
            ("HERALD_GITLAB_TOKEN", GITLAB_TOKEN),
        ]
    }

    /// Keeps the review job's artifacts (its `artifacts: paths`, `prefix*suffix` globs) for
    /// merge request `iid`, as GitLab keeps them by the merge request's ref.
    fn keep_review_artifacts(&self, pipeline: &Value, work: &Path, iid: u64) {
        let globs = pipeline["review"]["artifacts"]["paths"]
            .as_array()
            .expect("paths");
        let mut state = self.state.lock().expect("the state");
        for glob in globs.iter().filter_map(Value::as_str) {
            let (prefix, suffix) = glob.split_once('*').unwrap_or((glob, ""));
            for entry in std::fs::read_dir(work).expect("the checkout") {
                let name = entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                if name.starts_with(prefix) && name.ends_with(suffix) {
                    let bytes = std::fs::read(work.join(&name)).expect("the artifact");
                    state
                        .artifacts
                        .insert((format!("refs/merge-requests/{iid}/head"), name), bytes);
                }
            }
        }
    }

    fn merged(&self, commit: &str, iid: u64, head: &str) {
        let mut state = self.state.lock().expect("the state");
        state
            .merged
            .insert(commit.to_owned(), (iid, head.to_owned()));
    }

    fn notes(&self, iid: u64) -> Vec<String> {
        let state = self.state.lock().expect("the state");
        state.notes.get(&iid).cloned().unwrap_or_default()
    }
}

/// `application/x-www-form-urlencoded` text, decoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).expect("a percent escape"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8")
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
        let github = GitHub::new(scratch.path().join("github"));
        let path = format!(
            "{}:{}:{}",
            herald_dir.display(),
            github.dir.join("bin").display(),
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
            github,
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

    /// A branch from main, `name`, that adds a tester to the `testers` audience (whom
    /// `feedback-flow`, due now, messages): after the last tester for `add-a-tester`, before
    /// the first for any other branch, so that two such branches merge cleanly. Returns the
    /// branch's head commit.
    fn branch_adding(&self, name: &str, phone: &str) -> String {
        let work = self.work();
        git(work, &["checkout", "-q", "main"]);
        git(work, &["checkout", "-q", "-b", name]);
        let audiences = work.join("campaigns/audiences.yaml");
        let text = std::fs::read_to_string(&audiences).expect("audiences.yaml");
        let john = r#"      - {phone: "+919019486731", first_name: john, invoice_no: "12345"}"#;
        let jahnavi =
            r#"      - {phone: "+919178921978", first_name: jahnavi, invoice_no: "12346"}"#;
        assert!(text.contains(john) && text.contains(jahnavi));
        let tester =
            format!(r#"      - {{phone: "{phone}", first_name: zed, invoice_no: "40099"}}"#);
        let text = match name {
            "add-a-tester" => text.replacen(jahnavi, &format!("{jahnavi}\n{tester}"), 1),
            _ => text.replacen(john, &format!("{tester}\n{john}"), 1),
        };
        std::fs::write(&audiences, text).expect("written");
        git(
            work,
            &[
                "commit",
                "-q",
                "--no-gpg-sign",
                "-am",
                &format!("{name}: add a tester"),
            ],
        );
        git(work, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn branch_adding_a_tester(&self) -> String {
        self.branch_adding("add-a-tester", NEW_TESTER)
    }

    /// Merges `branch` into main as GitHub's button does: `how` is "merge" (a merge commit)
    /// or "squash"; says which pull request the new commit came from; returns it.
    fn merge(&self, branch: &str, how: &str, pull_request: u64, head: &str) -> String {
        let work = self.work();
        git(work, &["checkout", "-q", "main"]);
        let message = format!("{branch} (#{pull_request})");
        match how {
            "merge" => git(
                work,
                &[
                    "merge",
                    "-q",
                    "--no-ff",
                    "--no-gpg-sign",
                    "-m",
                    &message,
                    branch,
                ],
            ),
            "squash" => {
                git(work, &["merge", "-q", "--squash", branch]);
                git(work, &["commit", "-q", "--no-gpg-sign", "-m", &message])
            }
            other => panic!("no merge method {other}"),
        };
        let commit = git(work, &["rev-parse", "HEAD"]).trim().to_owned();
        self.runner.github.merged(&commit, pull_request, head);
        commit
    }

    /// The sends since `before`, which must be exactly one: to `phone`.
    fn only_since(&self, before: &[String], phone: &str) -> Vec<String> {
        let now = self.emulator.sends();
        let new = &now[before.len()..];
        assert_eq!(new.len(), 1, "only {phone} is messaged: {new:?}");
        assert!(new[0].contains(phone), "{new:?}");
        now
    }

    fn only_the_new_tester_since(&self, before: &[String]) -> Vec<String> {
        self.only_since(before, NEW_TESTER)
    }

    /// The requests a plan file sends (path and body), read with `herald show --format json`
    /// as docs/ci.md says to read a plan file, in the emulator's `path body` form.
    fn sends_in(&self, plan: &Path) -> Vec<(String, Value)> {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["show", &plan.display().to_string(), "--format", "json"])
            .output()
            .expect("herald runs");
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        plan["campaigns"]
            .as_array()
            .expect("campaigns")
            .iter()
            .flat_map(|c| c["actions"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["sends"] == Value::Bool(true))
            .map(|a| {
                let path = a["request"]["path"].as_str().expect("a path").to_owned();
                (path, a["request"]["body"].clone())
            })
            .collect()
    }

    /// The requests the emulator received after the first `before`, as (path, body).
    fn received_since(&self, before: usize) -> Vec<(String, Value)> {
        self.emulator.sends()[before..]
            .iter()
            .map(|send| {
                let (path, body) = send.split_once(' ').expect("path body");
                (
                    path.to_owned(),
                    serde_json::from_str(body).expect("a JSON body"),
                )
            })
            .collect()
    }

    /// Once, as docs/ci.md says: the review job's role may read the state, and nothing more.
    fn grant_read_to_reviews(&self) {
        let owner = self.runner.env["TEST_STATE_URL"].clone();
        let granted = self.herald_as(&owner, &["state", "grant-read", &self.review_role]);
        assert_eq!(granted.status.code(), Some(0), "{granted:?}");
    }
}

/// The phone the pull request under test adds.
const NEW_TESTER: &str = "+919999900001";

const REVIEW: &str = ".github/workflows/herald-review.yml";
const APPLY: &str = ".github/workflows/herald-apply.yml";
const SCHEDULE: &str = ".github/workflows/herald-schedule.yml";
const ON_MERGE: &str = ".github/workflows/herald-apply-on-merge.yml";

/// The file name `gh run list --workflow` knows a workflow by.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[test]
fn the_documented_github_workflows_apply_the_reviewed_plan() {
    let files = documented_files();
    let (review, apply, schedule) = (&files[REVIEW], &files[APPLY], &files[SCHEDULE]);
    for workflow in [apply, schedule] {
        assert_eq!(
            workflow["concurrency"]["cancel-in-progress"],
            Value::Bool(false),
            "an apply is never cancelled while it sends"
        );
    }
    assert_eq!(apply["concurrency"]["group"], "herald-apply");
    assert_ne!(
        schedule["concurrency"]["group"], apply["concurrency"]["group"],
        "a scheduled run never replaces a merge's pending run"
    );
    assert_eq!(schedule["on"]["schedule"][0]["cron"], "*/15 * * * *");
    let pipeline = Pipeline::new();
    let (runner, work) = (&pipeline.runner, pipeline.work());

    // The first scheduled run on main sends what is due.
    let run = runner.run(schedule, file_name(SCHEDULE), "schedule", &[]);
    assert_eq!(
        run.ran,
        [
            "Wait for a merge's apply",
            "Plan",
            "Apply exactly that plan"
        ]
    );
    let first = pipeline.emulator.sends();
    assert!(!first.is_empty(), "the first apply sends what is due");
    pipeline.grant_read_to_reviews();

    // A pull request adds a tester: the review shows it and sends nothing.
    let head = pipeline.branch_adding_a_tester();
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
    let reviewed = runner.run(
        review,
        file_name(REVIEW),
        "pull_request",
        &[("GITHUB_BASE_REF", "main")],
    );
    assert_eq!(
        reviewed.ran,
        [
            "Validate",
            "Diff the rendered messages",
            "Plan against production state",
            "Keep the plan for the merge"
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
    let artifact = runner
        .github
        .artifact(reviewed.id, &format!("herald-plan-{head}"))
        .join("herald.plan");
    let reviewed_sends = pipeline.sends_in(&artifact);
    assert_eq!(
        reviewed_sends.len(),
        1,
        "the plan sends to the new tester: {reviewed_sends:?}"
    );

    // Merged with a merge commit: the push applies the reviewed plan, exactly.
    std::fs::remove_file(work.join("comment.md")).expect("removed");
    std::fs::remove_file(work.join("herald.plan")).expect("removed");
    pipeline.merge("add-a-tester", "merge", 7, &head);
    let merged = runner.run(apply, file_name(APPLY), "push", &[]);
    assert_eq!(
        merged.ran,
        ["Download the reviewed plan", "Apply the reviewed plan"]
    );
    assert!(merged.waiting.is_empty(), "nothing waits for approval");
    assert_eq!(
        pipeline.received_since(first.len()),
        reviewed_sends,
        "the emulator received exactly the reviewed plan's messages"
    );
    let after_merge = pipeline.only_the_new_tester_since(&first);
    assert_eq!(runner.github.comments(7), "", "nothing to review again");

    // The scheduled run a quarter of an hour later finds nothing new.
    runner.run(schedule, file_name(SCHEDULE), "schedule", &[]);
    assert_eq!(
        pipeline.emulator.sends(),
        after_merge,
        "nobody is messaged twice"
    );
}

#[test]
fn a_stale_reviewed_plan_is_not_applied_but_planned_again_for_approval() {
    let files = documented_files();
    let (review, apply, schedule) = (&files[REVIEW], &files[APPLY], &files[SCHEDULE]);
    let pipeline = Pipeline::new();
    let (runner, work) = (&pipeline.runner, pipeline.work());
    runner.run(schedule, file_name(SCHEDULE), "schedule", &[]);
    let first = pipeline.emulator.sends();
    pipeline.grant_read_to_reviews();
    let base = [("GITHUB_BASE_REF", "main")];

    // Two pull requests, each adding a tester, each reviewed against main as it is.
    let head = pipeline.branch_adding_a_tester();
    let reviewed = runner.run(review, file_name(REVIEW), "pull_request", &base);
    let stale_plan = runner
        .github
        .artifact(reviewed.id, &format!("herald-plan-{head}"))
        .join("herald.plan");
    assert!(stale_plan.is_file());
    let other = "+919999900002";
    let other_head = pipeline.branch_adding("add-another-tester", other);
    runner.run(review, file_name(REVIEW), "pull_request", &base);

    // The second is merged and applied first: the state moved, and so did main's files.
    pipeline.merge("add-another-tester", "merge", 8, &other_head);
    runner.run(apply, file_name(APPLY), "push", &[]);
    let applied = pipeline.only_since(&first, other);

    // The first, squashed: its reviewed plan is refused as stale (exit 3), nothing is sent, and
    // the job plans again, posts that plan on the pull request and waits for approval.
    pipeline.merge("add-a-tester", "squash", 7, &head);
    std::fs::write(&runner.summary, "").expect("summary reset");
    let mut merged = runner.run(apply, file_name(APPLY), "push", &[]);
    assert_eq!(
        merged.ran,
        [
            "Download the reviewed plan",
            "Apply the reviewed plan",
            "Plan again for review",
            "Keep the new plan for approval"
        ]
    );
    assert!(
        merged
            .log
            .contains("error: the project changed since this plan was made"),
        "{}",
        merged.log
    );
    assert_eq!(merged.waiting, ["apply-replanned"]);
    assert_eq!(
        pipeline.emulator.sends(),
        applied,
        "nothing unreviewed is sent"
    );
    let comment = runner.github.comments(7);
    assert!(
        comment.starts_with("### herald: the reviewed plan was not applied"),
        "{comment}"
    );
    assert!(comment.contains("### herald plan"), "{comment}");
    assert!(
        !comment.contains("9999900001") && !comment.contains("zed"),
        "the comment is redacted: {comment}"
    );
    assert_eq!(
        runner.github.comments(8),
        "",
        "only the stale pull request hears"
    );
    // While the new plan waits, a scheduled run sends nothing: not the merged change either.
    let waited = runner.run(schedule, file_name(SCHEDULE), "schedule", &[]);
    assert_eq!(waited.ran, ["Wait for a merge's apply"]);
    assert!(
        waited
            .log
            .contains("::notice::a herald apply run is under way"),
        "{}",
        waited.log
    );
    assert_eq!(
        pipeline.emulator.sends(),
        applied,
        "nothing unreviewed is sent"
    );
    let page = std::fs::read_to_string(&runner.summary).expect("the step summary");
    assert!(page.contains("### herald plan"), "{page}");
    let new_plan = runner
        .github
        .artifact(merged.id, &format!("herald-plan-{}", merged.sha))
        .join("herald.plan");
    let new_sends = pipeline.sends_in(&new_plan);
    assert_eq!(
        new_sends.len(),
        1,
        "the new plan sends to the new tester: {new_sends:?}"
    );

    // A reviewer approves: exactly the new plan is applied.
    std::fs::remove_file(work.join("herald.plan")).expect("removed");
    runner.approve(apply, &mut merged, &[]);
    assert_eq!(
        merged.ran.last().map(String::as_str),
        Some("Apply the approved plan")
    );
    assert_eq!(pipeline.received_since(applied.len()), new_sends);
    let after = pipeline.only_the_new_tester_since(&applied);
    runner.run(schedule, file_name(SCHEDULE), "schedule", &[]);
    assert_eq!(pipeline.emulator.sends(), after, "nobody is messaged twice");
}

#[test]
fn a_reviewed_plan_goes_stale_when_the_state_moves_before_the_merge() {
    let files = documented_files();
    let (review, apply, schedule) = (&files[REVIEW], &files[APPLY], &files[SCHEDULE]);
    let pipeline = Pipeline::new();
    let runner = &pipeline.runner;
    // Engati fails every send of the first apply: the state records them failed.
    let owner = runner.env["TEST_STATE_URL"].clone();
    pipeline.emulator.running.set_faults(Faults {
        server_error: 1.0,
        spare_reads: true,
        ..Faults::default()
    });
    let failed = pipeline.herald_as(&owner, &["apply", "--auto-approve"]);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    pipeline.emulator.running.set_faults(Faults::default());
    pipeline.grant_read_to_reviews();

    // The pull request is reviewed: its plan retries them and messages the new tester.
    let head = pipeline.branch_adding_a_tester();
    let reviewed = runner.run(
        review,
        file_name(REVIEW),
        "pull_request",
        &[("GITHUB_BASE_REF", "main")],
    );
    let reviewed_plan = runner
        .github
        .artifact(reviewed.id, &format!("herald-plan-{head}"))
        .join("herald.plan");
    let reviewed_sends = pipeline.sends_in(&reviewed_plan);
    assert!(reviewed_sends.len() > 1, "{reviewed_sends:?}");

    // Before the merge, a scheduled run on main sends the retries: the state moved.
    git(pipeline.work(), &["checkout", "-q", "main"]);
    runner.run(schedule, file_name(SCHEDULE), "schedule", &[]);
    let retried = pipeline.emulator.sends();
    assert_eq!(
        retried.len(),
        reviewed_sends.len() - 1,
        "the retries went out"
    );

    // Merged: the files are the reviewed ones, the state is not; nothing is sent until the
    // new plan, which sends to the new tester alone, is approved.
    pipeline.merge("add-a-tester", "squash", 7, &head);
    let mut merged = runner.run(apply, file_name(APPLY), "push", &[]);
    assert!(
        merged
            .log
            .contains("error: the state changed since this plan was made"),
        "{}",
        merged.log
    );
    assert_eq!(merged.waiting, ["apply-replanned"]);
    assert_eq!(
        pipeline.emulator.sends(),
        retried,
        "nothing unreviewed is sent"
    );
    let comment = runner.github.comments(7);
    assert!(
        comment.contains("the reviewed plan was not applied"),
        "{comment}"
    );
    std::fs::remove_file(pipeline.work().join("herald.plan")).expect("removed");
    runner.approve(apply, &mut merged, &[]);
    pipeline.only_the_new_tester_since(&retried);
}

#[test]
fn a_push_without_a_reviewed_plan_is_planned_and_waits_for_approval() {
    let files = documented_files();
    let (apply, schedule) = (&files[APPLY], &files[SCHEDULE]);
    let pipeline = Pipeline::new();
    let (runner, work) = (&pipeline.runner, pipeline.work());
    runner.run(schedule, file_name(SCHEDULE), "schedule", &[]);
    let first = pipeline.emulator.sends();

    // Someone pushes to main directly: no pull request, no review, no plan kept.
    pipeline.branch_adding_a_tester();
    git(work, &["checkout", "-q", "main"]);
    git(work, &["merge", "-q", "--ff-only", "add-a-tester"]);
    let mut pushed = runner.run(apply, file_name(APPLY), "push", &[]);
    assert_eq!(
        pushed.ran,
        [
            "Download the reviewed plan",
            "Plan again for review",
            "Keep the new plan for approval"
        ]
    );
    assert!(
        pushed.log.contains("::warning::no reviewed plan for"),
        "{}",
        pushed.log
    );
    assert_eq!(pushed.waiting, ["apply-replanned"]);
    assert_eq!(
        pipeline.emulator.sends(),
        first,
        "nothing unreviewed is sent"
    );
    std::fs::remove_file(work.join("herald.plan")).expect("removed");
    runner.approve(apply, &mut pushed, &[]);
    pipeline.only_the_new_tester_since(&first);
}

#[test]
fn the_documented_apply_on_merge_workflow_applies_what_main_plans() {
    let files = documented_files();
    let (review, on_merge) = (&files[REVIEW], &files[ON_MERGE]);
    assert_eq!(
        on_merge["concurrency"]["cancel-in-progress"],
        Value::Bool(false),
        "an apply is never cancelled while it sends"
    );
    assert_eq!(on_merge["on"]["schedule"][0]["cron"], "*/15 * * * *");
    let pipeline = Pipeline::new();
    let runner = &pipeline.runner;
    let run = runner.run(on_merge, file_name(ON_MERGE), "push", &[]);
    assert_eq!(run.ran, ["Plan", "Apply exactly that plan"]);
    let first = pipeline.emulator.sends();
    assert!(!first.is_empty(), "the first apply sends what is due");
    pipeline.grant_read_to_reviews();
    let head = pipeline.branch_adding_a_tester();
    runner.run(
        review,
        file_name(REVIEW),
        "pull_request",
        &[("GITHUB_BASE_REF", "main")],
    );
    assert_eq!(pipeline.emulator.sends(), first, "a review sends nothing");
    pipeline.merge("add-a-tester", "merge", 7, &head);
    let merged = runner.run(on_merge, file_name(ON_MERGE), "push", &[]);
    assert_eq!(merged.ran, ["Plan", "Apply exactly that plan"]);
    let after_merge = pipeline.only_the_new_tester_since(&first);
    runner.run(on_merge, file_name(ON_MERGE), "schedule", &[]);
    assert_eq!(
        pipeline.emulator.sends(),
        after_merge,
        "nobody is messaged twice"
    );
}

/// The variables of a GitLab pipeline for a push to main.
const GITLAB_ON_MAIN: [(&str, &str); 3] = [
    ("CI_PIPELINE_SOURCE", "push"),
    ("CI_COMMIT_BRANCH", "main"),
    ("CI_DEFAULT_BRANCH", "main"),
];

#[test]
fn the_documented_gitlab_pipeline_reviews_a_fork_and_plans_an_unreviewed_merge_again() {
    let files = documented_files();
    let pipeline_file = &files[".gitlab-ci.yml"];
    for job in ["apply", "apply-replanned", "schedule"] {
        assert_eq!(
            pipeline_file[job]["resource_group"], "herald-apply",
            "{job}"
        );
    }
    let pipeline = Pipeline::new();
    let gitlab = GitLab::start();
    let (runner, work) = (&pipeline.runner, pipeline.work());
    let secrets = [
        ("ENGATI_API_KEY", BUILTIN_API_KEY),
        ("HERALD_STATE_URL", runner.env["TEST_STATE_URL"].as_str()),
    ];
    let scheduled = [("CI_PIPELINE_SOURCE", "schedule")];
    let schedule = [&secrets[..], &scheduled[..]].concat();
    runner.run_gitlab_job(pipeline_file, "schedule", &schedule);
    let first = pipeline.emulator.sends();
    assert!(!first.is_empty(), "the first apply sends what is due");

    // A merge request from a fork: no variables, so no plan; the diff still runs.
    pipeline.branch_adding_a_tester();
    let (output, _) = runner.run_gitlab_job(
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
        !output.contains("Plan made"),
        "no plan without the state: {output}"
    );
    let report = std::fs::read_to_string(work.join("gl-code-quality-report.json"))
        .expect("the Code Quality report");
    assert_eq!(report.trim(), "[]", "a valid project has no findings");
    assert_eq!(pipeline.emulator.sends(), first, "a review sends nothing");

    // Merged (a fast-forward, no reviewed plan): nothing is sent until apply-replanned runs.
    git(work, &["checkout", "-q", "main"]);
    git(work, &["merge", "-q", "--ff-only", "add-a-tester"]);
    let on_main = [&secrets[..], &GITLAB_ON_MAIN[..], &gitlab.variables()[..]].concat();
    let (output, code) = runner.run_gitlab_job(pipeline_file, "apply", &on_main);
    assert_eq!(code, 3, "an allowed failure: a new plan waits\n{output}");
    assert!(output.contains("no reviewed plan for"), "{output}");
    assert_eq!(
        pipeline.emulator.sends(),
        first,
        "nothing unreviewed is sent"
    );
    runner.run_gitlab_job(pipeline_file, "apply-replanned", &on_main);
    let after_merge = pipeline.only_the_new_tester_since(&first);
    runner.run_gitlab_job(pipeline_file, "schedule", &schedule);
    assert_eq!(
        pipeline.emulator.sends(),
        after_merge,
        "nobody is messaged twice"
    );
}

#[test]
fn the_documented_gitlab_pipeline_applies_the_reviewed_plan_or_plans_a_stale_one_again() {
    let files = documented_files();
    let pipeline_file = &files[".gitlab-ci.yml"];
    let pipeline = Pipeline::new();
    let gitlab = GitLab::start();
    let (runner, work) = (&pipeline.runner, pipeline.work());
    let secrets = [
        ("ENGATI_API_KEY", BUILTIN_API_KEY),
        ("HERALD_STATE_URL", runner.env["TEST_STATE_URL"].as_str()),
    ];
    let schedule = [&secrets[..], &[("CI_PIPELINE_SOURCE", "schedule")][..]].concat();
    runner.run_gitlab_job(pipeline_file, "schedule", &schedule);
    let first = pipeline.emulator.sends();
    pipeline.grant_read_to_reviews();
    // A merge request pipeline of the project's own branch: the read-only URL, and the key
    // for the Users API audience.
    let review_url = runner.env["TEST_REVIEW_STATE_URL"].clone();
    let review = [
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("HERALD_REVIEW_STATE_URL", review_url.as_str()),
        ("ENGATI_API_KEY", BUILTIN_API_KEY),
    ];
    let clean = || {
        for file in ["reviewed.plan", "herald-replan.plan", "replan.md"] {
            let _ = std::fs::remove_file(work.join(file));
        }
    };

    // Two merge requests, each reviewed with its plan kept.
    let head = pipeline.branch_adding_a_tester();
    let (output, _) = runner.run_gitlab_job(pipeline_file, "review", &review);
    assert!(output.contains("Plan made"), "the review plans: {output}");
    gitlab.keep_review_artifacts(pipeline_file, work, 7);
    let other = "+919999900002";
    let other_head = pipeline.branch_adding("add-another-tester", other);
    runner.run_gitlab_job(pipeline_file, "review", &review);
    gitlab.keep_review_artifacts(pipeline_file, work, 8);
    assert_eq!(pipeline.emulator.sends(), first, "reviews send nothing");

    // The second is merged (a merge commit): its reviewed plan is applied, exactly.
    let on_main = [&secrets[..], &GITLAB_ON_MAIN[..], &gitlab.variables()[..]].concat();
    git(work, &["checkout", "-q", "main"]);
    git(
        work,
        &[
            "merge",
            "-q",
            "--no-ff",
            "--no-gpg-sign",
            "-m",
            "Merge !8",
            "add-another-tester",
        ],
    );
    gitlab.merged(git(work, &["rev-parse", "HEAD"]).trim(), 8, &other_head);
    let reviewed = pipeline.sends_in(&work.join(format!("herald-plan-{other_head}.plan")));
    clean();
    let (output, code) = runner.run_gitlab_job(pipeline_file, "apply", &on_main);
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        pipeline.received_since(first.len()),
        reviewed,
        "exactly the reviewed plan"
    );
    let applied = pipeline.only_since(&first, other);
    let (output, _) = runner.run_gitlab_job(pipeline_file, "apply-replanned", &on_main);
    assert!(output.contains("nothing to approve"), "{output}");
    assert!(gitlab.notes(8).is_empty(), "nothing to review again");

    // The first, squashed: its plan is stale. Nothing is sent; the new plan is posted on the
    // merge request and applied when apply-replanned runs.
    git(work, &["merge", "-q", "--squash", "add-a-tester"]);
    git(
        work,
        &["commit", "-q", "--no-gpg-sign", "-m", "add a tester (!7)"],
    );
    gitlab.merged(git(work, &["rev-parse", "HEAD"]).trim(), 7, &head);
    clean();
    let (output, code) = runner.run_gitlab_job(pipeline_file, "apply", &on_main);
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("error: the project changed since this plan was made"),
        "{output}"
    );
    assert_eq!(
        pipeline.emulator.sends(),
        applied,
        "nothing unreviewed is sent"
    );
    let notes = gitlab.notes(7);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("### herald: the reviewed plan was not applied")
            && notes[0].contains("### herald plan")
            && !notes[0].contains("9999900001"),
        "{}",
        notes[0]
    );
    let new_plan = pipeline.sends_in(&work.join("herald-replan.plan"));
    runner.run_gitlab_job(pipeline_file, "apply-replanned", &on_main);
    assert_eq!(
        pipeline.received_since(applied.len()),
        new_plan,
        "exactly the posted plan"
    );
    let after = pipeline.only_the_new_tester_since(&applied);
    runner.run_gitlab_job(pipeline_file, "schedule", &schedule);
    assert_eq!(pipeline.emulator.sends(), after, "nobody is messaged twice");
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
