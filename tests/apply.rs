//! `herald apply PLANFILE` against the emulator over loopback: what the plan says is what the
//! emulator receives, and a second apply sends nothing.

mod plan_support;

use herald::emulator::{self, BUILTIN_API_KEY, Running, Seed};
use herald::plan::json;
use plan_support::{AFTER_DUE, Project};

/// A sent request as the emulator saw it: path, query, JSON body.
type Sent = (String, Vec<(String, String)>, Option<serde_json::Value>);

/// The emulator on a runtime of its own, and the example project pointed at it.
struct Setup {
    project: Project,
    /// Runs the emulator; dropped (stopping it) with the setup.
    _runtime: tokio::runtime::Runtime,
    emulator: Running,
}

impl Setup {
    fn new() -> Setup {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let emulator = runtime
            .block_on(emulator::start(emulator::Config::local(Seed::builtin())))
            .expect("the emulator starts");
        let project = Project::example();
        project.edit(
            "herald.yaml",
            "base_url: https://api.engati.ai",
            &format!("base_url: {}", emulator.base_url()),
        );
        Setup {
            project,
            _runtime: runtime,
            emulator,
        }
    }

    fn herald(&self, args: &[&str]) -> std::process::Output {
        self.project
            .herald_with_env(args, &[("ENGATI_API_KEY", BUILTIN_API_KEY)])
    }

    /// `herald plan --out plan.json` at the example's due time; the saved plan.
    fn plan(&self) -> json::Document {
        let output = self.herald(&["plan", "--now", AFTER_DUE, "--out", "plan.json"]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        json::read(&self.project.path().join("plan.json")).expect("a plan file")
    }

    /// The requests the emulator accepted that send something (not Users API reads).
    fn sends(&self) -> Vec<Sent> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| (r.path, r.query, r.body))
            .collect()
    }
}

#[test]
fn apply_sends_exactly_the_plan_and_a_second_apply_sends_nothing() {
    let setup = Setup::new();
    let plan = setup.plan();
    let mut planned: Vec<_> = plan
        .campaigns
        .iter()
        .flat_map(|c| &c.actions)
        .filter(|a| a.sends)
        .map(|a| {
            let r = &a.request;
            let body = r
                .body
                .as_ref()
                .map(|b| serde_json::from_str(b.get()).unwrap());
            (r.path.clone(), r.query.clone(), body)
        })
        .collect();
    assert!(planned.len() > 5, "the example plans several sends");

    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    insta::assert_snapshot!("first_apply", String::from_utf8_lossy(&output.stdout));
    let mut sent = setup.sends();
    let key = |s: &Sent| serde_json::to_string(s).unwrap();
    planned.sort_by_key(key);
    sent.sort_by_key(key);
    assert_eq!(
        sent, planned,
        "the emulator received exactly the planned sends"
    );

    // Everything is in state: the next plan sends nothing, and applying it sends nothing.
    let again = setup.plan();
    assert_eq!(again.counts.requests, 0, "{:?}", again.counts);
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        setup.sends().len(),
        planned.len(),
        "no request was sent twice"
    );
}

#[test]
fn a_plan_made_against_older_state_is_refused() {
    let setup = Setup::new();
    setup.plan();
    std::fs::copy(
        setup.project.path().join("plan.json"),
        setup.project.path().join("old.json"),
    )
    .unwrap();
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let before = setup.sends().len();

    let output = setup.herald(&["apply", "old.json"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
    assert_eq!(setup.sends().len(), before, "nothing was sent");
}

#[test]
fn a_plan_whose_files_changed_is_refused() {
    let setup = Setup::new();
    setup.plan();
    setup
        .project
        .append("audiences/vip.csv", "+919800000001,meera,20001\n");
    let output = setup.herald(&["apply", "plan.json"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stderr));
    assert!(setup.sends().is_empty(), "nothing was sent");
}
