//! What the apply tests share: the emulator on a runtime of its own with the example project
//! pointed at it, and readers of what the emulator and the state saw.

#![allow(dead_code)]

#[path = "../plan_support/mod.rs"]
mod plan_support;

use herald::emulator::{self, BUILTIN_API_KEY, Faults, Running, Seed};
use herald::plan::{file, json};
use herald::state::Round;
use herald::state::sqlite::SqliteStore;
use herald::state::{Outcome, Store};
#[allow(unused_imports)]
pub(crate) use plan_support::{
    AFTER_DUE, BEFORE_DUE, Project, plan_file_as_json, plan_with, stable, write_plan_file,
};

/// A sent request as the emulator saw it: path, query, JSON body.
pub(crate) type Sent = (String, Vec<(String, String)>, Option<serde_json::Value>);

/// The emulator on a runtime of its own, and the example project pointed at it.
pub(crate) struct Setup {
    pub project: Project,
    /// Runs the emulator; dropped (stopping it) with the setup.
    _runtime: tokio::runtime::Runtime,
    pub emulator: Running,
}

impl Setup {
    /// The example project's default API target is the emulator.
    pub(crate) fn new() -> Setup {
        Setup::pointing("base_url: https://api.engati.ai", "base_url: {url}")
    }

    /// The example as the quickstart runs it: only `--env staging` points at the emulator
    /// (here on a free port rather than 8787).
    pub(crate) fn staging() -> Setup {
        Setup::pointing(
            r#"api: {base_url: "http://127.0.0.1:8787"}"#,
            r#"api: {base_url: "{url}"}"#,
        )
    }

    /// Starts the emulator and replaces `from` in herald.yaml by `to` with its URL for `{url}`.
    pub(crate) fn pointing(from: &str, to: &str) -> Setup {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let emulator = runtime
            .block_on(emulator::start(emulator::Config::local(Seed::builtin())))
            .expect("the emulator starts");
        let project = Project::example();
        project.edit(
            "herald.yaml",
            from,
            &to.replace("{url}", &emulator.base_url()),
        );
        // Apply refuses a plan made as of a later time than now: the invoice reminders are
        // due whatever the date the tests run on, so plans are made as of now.
        project.edit(
            "campaigns/invoice-reminders.yaml",
            "at: 2026-12-01T09:00:00+05:30",
            "at: 2026-01-01T09:00:00+05:30",
        );
        Setup {
            project,
            _runtime: runtime,
            emulator,
        }
    }

    /// The project, the runtime and the emulator, to stop the emulator and keep the project.
    pub(crate) fn into_parts(self) -> (Project, tokio::runtime::Runtime, Running) {
        (self.project, self._runtime, self.emulator)
    }

    pub(crate) fn herald(&self, args: &[&str]) -> std::process::Output {
        self.project
            .herald_with_env(args, &[("ENGATI_API_KEY", BUILTIN_API_KEY)])
    }

    /// `herald plan --out plan.json` at the example's due time; the saved plan.
    pub(crate) fn plan(&self) -> json::Document {
        let output = self.herald(&["plan", "--out", "plan.json"]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        file::read(&self.project.path().join("plan.json")).expect("a plan file")
    }

    /// Plans, then applies with a 1 s timeout while this fraction of requests hang (accepted,
    /// never answered); asserts the apply exits 1 and returns its output.
    pub(crate) fn apply_with_hangs(&self, hang: f64) -> std::process::Output {
        self.project.edit(
            "herald.yaml",
            "  concurrency: 16\n",
            "  concurrency: 16\n  timeout_seconds: 1\n",
        );
        self.plan();
        self.emulator.set_faults(Faults {
            hang,
            seed: Some(3),
            spare_reads: true,
            ..Faults::default()
        });
        let output = self.herald(&["apply", "plan.json"]);
        self.emulator.set_faults(Faults::default());
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        output
    }

    /// Starts `herald apply plan.json` one request at a time against a slow emulator, and
    /// returns once the first request was accepted.
    pub(crate) fn slow_apply_sending(&self) -> std::process::Child {
        self.emulator.set_faults(Faults {
            latency_ms: 150,
            ..Faults::default()
        });
        let apply = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["apply", "plan.json", "--concurrency", "1"])
            .current_dir(self.project.path())
            .env("ENGATI_API_KEY", BUILTIN_API_KEY)
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the first send", || !self.sends().is_empty());
        apply
    }

    /// The requests the emulator accepted that send something (not Users API reads).
    pub(crate) fn sends(&self) -> Vec<Sent> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| (r.path, r.query, r.body))
            .collect()
    }
}

/// Polls until `done` (every 20 ms, for at most 20 s).
pub(crate) fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed().as_secs() < 20, "waited 20 s for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What state holds for every campaign: (campaign, recipient) -> outcome.
pub(crate) fn state_outcomes(
    setup: &Setup,
) -> std::collections::BTreeMap<(String, String), Outcome> {
    state_outcomes_once_ready(setup).expect("the state opens")
}

/// [`state_outcomes`], or `None` while the state cannot be read yet: an apply that has just
/// created it may still be migrating it (a reader never migrates), as polls meet it.
pub(crate) fn state_outcomes_once_ready(
    setup: &Setup,
) -> Option<std::collections::BTreeMap<(String, String), Outcome>> {
    let store = SqliteStore::open_read_only(&setup.project.path().join(".herald/state.db")).ok()?;
    let mut all = std::collections::BTreeMap::new();
    for campaign in store.campaigns().unwrap() {
        for (recipient, r) in store
            .recorded_map(Round::of(&campaign.campaign, campaign.occurrence))
            .unwrap()
        {
            all.insert((campaign.campaign.clone(), recipient), r.outcome);
        }
    }
    Some(all)
}

/// The text with the emulator's port (a free one, different every run) masked.
pub(crate) fn without_port(text: &str) -> String {
    let marker = "http://127.0.0.1:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        out.push_str("[port]");
        rest = rest[i + marker.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

pub(crate) fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Plans to plan.json expecting `code`, then checks apply refuses the plan (nothing sent)
/// and sends it all with --force; returns the refusal's stderr.
pub(crate) fn refused_then_forced(setup: &Setup, requests: usize) -> String {
    let plan = setup.herald(&["plan", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(1), "{plan:?}");
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(out.contains("Unsafe plan"), "{out}");
    assert!(out.contains("herald apply --force plan.json"), "{out}");
    let before = setup.sends().len();
    let refused = setup.herald(&["apply", "plan.json"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert_eq!(setup.sends().len(), before, "nothing was sent");
    let forced = setup.herald(&["apply", "--force", "plan.json"]);
    assert_eq!(forced.status.code(), Some(0), "{forced:?}");
    assert!(
        stderr(&forced).contains("warning: applying with --force:"),
        "{forced:?}"
    );
    assert_eq!(setup.sends().len(), before + requests);
    stderr(&refused)
}
