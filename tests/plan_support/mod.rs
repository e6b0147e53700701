//! Shared by the plan tests: a private copy of the example project, the herald binary, and a
//! simulated apply that writes state directly.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::io;

use herald::plan::cost::Cost;
use herald::plan::{Action, ActionKind, Campaign, Counts, Header, Sink, file, json};
use herald::render::NoUsersApi;
use herald::state::sqlite::SqliteStore;
use herald::state::{Delivery, Outcome, Store};

/// When the example's plans are made: after the invoice reminders' 1 December schedule.
pub(crate) const AFTER_DUE: &str = "2026-12-02T00:00:00Z";
/// Before it: the invoice reminders are waiting.
pub(crate) const BEFORE_DUE: &str = "2026-11-25T00:00:00Z";

/// A copy of the repository's example project in a temporary directory.
pub(crate) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// Copies herald.yaml, pricing.yaml, campaigns/ and audiences/.
    pub(crate) fn example() -> Project {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().expect("a temporary directory");
        for file in ["herald.yaml", "pricing.yaml"] {
            std::fs::copy(repo.join(file), dir.path().join(file)).unwrap();
        }
        for sub in ["campaigns", "audiences"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            for entry in std::fs::read_dir(repo.join(sub)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
            }
        }
        Project { dir }
    }

    /// The project directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs herald in the project with `NO_COLOR` and no API key.
    pub(crate) fn herald(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("ENGATI_API_KEY")
            .output()
            .expect("the herald binary runs")
    }

    /// Runs herald in the project with `NO_COLOR` and the given environment variables.
    pub(crate) fn herald_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("ENGATI_API_KEY")
            .env_remove("HERALD_STATE_URL");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("the herald binary runs")
    }

    /// `herald plan --emulator --now NOW` with extra arguments; asserts the exit code.
    pub(crate) fn plan(&self, now: &str, extra: &[&str], code: i32) -> String {
        let mut args = vec!["plan", "--emulator", "--now", now];
        args.extend_from_slice(extra);
        let output = self.herald(&args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "herald {args:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Replaces `from` with `to` in a project file (which must contain it).
    pub(crate) fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// Appends text to a project file.
    pub(crate) fn append(&self, file: &str, text: &str) {
        let path = self.path().join(file);
        let mut content = std::fs::read_to_string(&path).unwrap();
        content.push_str(text);
        std::fs::write(&path, content).unwrap();
    }

    /// Plans at `now`, then records every action that sends as the outcome `decide` gives it
    /// (skipping `None`), as if an apply had run; returns how many were recorded.
    pub(crate) fn simulate_apply(
        &self,
        now: &str,
        decide: impl Fn(&str, &Action) -> Option<(Outcome, Option<i64>)>,
    ) -> usize {
        let plan_file = self.path().join("simulated.plan.json");
        let plan_path = plan_file.to_str().unwrap();
        self.plan(now, &["--out", plan_path, "--format", "json"], 0);
        let document = file::read(&plan_file).expect("the plan file reads back");
        std::fs::remove_file(&plan_file).unwrap();
        let mut batch = Vec::new();
        for campaign in &document.campaigns {
            for action in campaign.actions.iter().filter(|a| a.sends) {
                if let Some((outcome, api_code)) = decide(&campaign.campaign.name, action) {
                    let at = now.parse().unwrap();
                    let mut delivery = recorded(&campaign.campaign.name, None, action, at);
                    delivery.outcome = outcome;
                    delivery.api_code = api_code;
                    delivery.detail = (outcome != Outcome::Sent).then(|| "simulated".to_owned());
                    delivery.apply_id = "simulated-apply".to_owned();
                    batch.push(delivery);
                }
            }
        }
        let mut store = SqliteStore::open(&self.path().join(".herald/state.db")).unwrap();
        store.record(&batch).unwrap();
        batch.len()
    }
}

/// Output with the emulator's port and the state's lineage (random per run) replaced.
pub(crate) fn stable(text: &str) -> String {
    let text = replace_after(text, "http://127.0.0.1:", "[port]", |c| c.is_ascii_digit());
    replace_after(&text, "\"state_lineage\":\"", "[lineage]", |c| {
        c.is_ascii_hexdigit()
    })
}

/// `text` with the characters passing `part` right after each `marker` replaced by `with`.
fn replace_after(text: &str, marker: &str, with: &str, part: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        out.push_str(with);
        rest = rest[i + marker.len()..].trim_start_matches(&part);
    }
    out.push_str(rest);
    out
}

/// `git ARGS` in `dir` with a fixed identity and time (so commits are the same every run) and
/// no user or system configuration; asserts success and returns standard output.
pub(super) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "herald tests")
        .env("GIT_AUTHOR_EMAIL", "tests@herald.invalid")
        .env("GIT_COMMITTER_NAME", "herald tests")
        .env("GIT_COMMITTER_EMAIL", "tests@herald.invalid")
        .env("GIT_AUTHOR_DATE", "2026-11-20T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-11-20T10:00:00Z")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Plans the valid project in `dir` as of `now` through the library (no binary, no API key),
/// against `store`, into `sink`; `users` answers Users API audiences.
pub(crate) fn plan_with(
    dir: &Path,
    now: jiff::Timestamp,
    users: &mut dyn herald::render::UsersSource,
    store: &dyn Store,
    sink: &mut dyn herald::plan::Sink,
) -> Result<herald::plan::engine::Made, herald::plan::engine::Failure> {
    let loaded = herald::load::load(dir).unwrap();
    let validated = herald::validate::validate(&loaded, &herald::validate::Options::default());
    let errors: Vec<&str> = validated
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let api = validated.catalog.settings.as_ref().unwrap().api_for(None);
    let input = herald::plan::engine::Input {
        loaded: &loaded,
        catalog: &validated.catalog,
        api: &api,
        now,
        environment: None,
        selection: &[],
        inputs_hash: String::new(),
        reconciled: None,
    };
    herald::plan::engine::run(&input, users, store, sink)
}

/// A planned action recorded as sent at `at`, as an apply then would record it.
pub(crate) fn recorded(
    campaign: &str,
    occurrence: Option<jiff::Timestamp>,
    action: &Action,
    at: jiff::Timestamp,
) -> Delivery {
    Delivery {
        campaign: campaign.to_owned(),
        occurrence,
        recipient: action.recipient.clone(),
        fingerprint: action.fingerprint,
        request: action.request.to_json(),
        outcome: Outcome::Sent,
        api_code: None,
        detail: None,
        at,
        apply_id: at.to_string(),
    }
}

/// A send of a plan: campaign, occurrence, action.
pub(crate) type Send = (String, Option<jiff::Timestamp>, Action);

/// The sends of a plan, and the deliveries the frequency cap held back.
#[derive(Default)]
pub(crate) struct Sends {
    pub(crate) campaign: String,
    pub(crate) occurrence: Option<jiff::Timestamp>,
    pub(crate) sends: Vec<Send>,
    pub(crate) capped: Vec<(String, Action)>,
}

impl Sink for Sends {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }
    fn campaign(&mut self, campaign: &Campaign) -> io::Result<()> {
        self.campaign = campaign.name.clone();
        self.occurrence = campaign.occurrence;
        Ok(())
    }
    fn action(&mut self, action: &Action) -> io::Result<()> {
        if action.sends {
            self.sends
                .push((self.campaign.clone(), self.occurrence, action.clone()));
        } else if action.action == ActionKind::Capped {
            self.capped.push((self.campaign.clone(), action.clone()));
        }
        Ok(())
    }
    fn end_campaign(&mut self, _: &Counts, _: Option<&Cost>) -> io::Result<()> {
        Ok(())
    }
    fn end(&mut self, _: &Counts, _: Option<&Cost>) -> io::Result<()> {
        Ok(())
    }
}

/// Plans at `now` and records every send in flight, then sent, as an apply at `now` would.
pub(crate) fn apply_at(dir: &Path, store: &mut SqliteStore, now: jiff::Timestamp) -> Sends {
    let mut sends = Sends::default();
    plan_with(dir, now, &mut NoUsersApi, &*store, &mut sends).expect("a plan");
    let batch: Vec<Delivery> = sends
        .sends
        .iter()
        .map(|(campaign, occurrence, action)| recorded(campaign, *occurrence, action, now))
        .collect();
    // As apply records them: in flight before the sends, then their outcomes.
    let in_flight: Vec<Delivery> = batch
        .iter()
        .map(|d| Delivery {
            outcome: Outcome::InFlight,
            ..d.clone()
        })
        .collect();
    store.record(&in_flight).unwrap();
    store.record(&batch).unwrap();
    sends
}

/// A plan file as its JSON view (the text `herald show FILE --format json` prints).
pub(crate) fn plan_file_as_json(path: &Path) -> String {
    let file = std::fs::File::open(path).expect("the plan file opens");
    let mut writer = json::Writer::new(Vec::new());
    file::stream(file, &mut writer).expect("the plan file reads back");
    String::from_utf8(writer.into_inner()).expect("UTF-8 JSON")
}

/// Writes a plan file holding the plan `text` (a JSON view, possibly edited) as it is,
/// unchecked: how a test makes the edited or inconsistent plan files apply must refuse.
pub(crate) fn write_plan_file(path: &Path, text: &str) {
    let document: json::Document = serde_json::from_str(text).expect("an edited plan that parses");
    let out = std::fs::File::create(path).expect("the plan file is written");
    let mut writer = file::Writer::new(io::BufWriter::new(out)).expect("a plan file starts");
    document.replay(&mut writer).expect("the plan is written");
    writer.into_inner().expect("the plan file is whole");
}
