//! Cost estimates and the budget end to end: the example project's plan priced in every
//! format; a plan over `budget.max_per_apply` shown unsafe (exit 1), refused by apply (exit 2,
//! nothing sent) and sent with `--force` against the emulator; unpriced phones counted; a saved
//! plan finding the same breach, refused when a cost was taken out, or when the rates changed.

mod apply_support;

use apply_support::{
    AFTER_DUE, Project, Setup, plan_file_as_json, refused_then_forced, without_port,
    write_plan_file,
};
use herald::plan::file;
use herald::plan::safety::Breach;
use herald::pricing::Money;

/// The example's budget, and one its plan (0.1364 USD at the example's rates) breaks.
const BUDGET: &str = "max_per_apply: 50 ";
const TIGHT_BUDGET: &str = "max_per_apply: 0.1 ";

/// Snapshots the plan at the fixed time in every format, expecting exit `code`.
fn snapshot_plans(project: &Project, scenario: &str, code: i32) {
    for format in ["human", "json", "markdown"] {
        let text = project.plan(AFTER_DUE, &["--format", format], code);
        insta::assert_snapshot!(format!("{scenario}.{format}"), without_port(&text));
    }
}

#[test]
fn the_example_plan_is_priced_in_every_format() {
    let project = Project::example();
    // 4 utility reminders (three to India, one to the US) and a marketing template broadcast to
    // 6 (four in India, one in the US, one under `default`); the triggers and the text broadcast
    // are service messages and cost nothing.
    snapshot_plans(&project, "priced", 0);
    let plan = project.plan(AFTER_DUE, &[], 0);
    assert!(
        plan.contains("estimated cost 0.0082 USD: 4 utility messages\n"),
        "{plan}"
    );
    assert!(
        plan.contains("Estimated cost: 0.1364 USD at the rates published 2025-07-01; budget 50.00 USD per apply.\n"),
        "{plan}"
    );
}

#[test]
fn a_plan_over_budget_is_unsafe_and_needs_force() {
    let project = Project::example();
    project.edit("herald.yaml", BUDGET, TIGHT_BUDGET);
    snapshot_plans(&project, "over_budget", 1);

    let setup = Setup::new();
    setup.project.edit("herald.yaml", BUDGET, TIGHT_BUDGET);
    // 2 triggers, 4 reminders and 2 broadcasts: all 8 requests go with --force.
    let refusal = refused_then_forced(&setup, 8);
    insta::assert_snapshot!("over_budget_refused", refusal);
    assert!(
        refusal.contains("budget.max_per_apply is 0.10 USD (herald.yaml:21:18)"),
        "{refusal}"
    );
    // Sent: nothing is left to send, so nothing costs, and the plan is safe again.
    let again = setup.herald(&["plan"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("Estimated cost: 0.00 USD"), "{text}");
}

#[test]
fn phones_no_rate_covers_are_unpriced_not_free() {
    let project = Project::example();
    project.edit(
        "pricing.yaml",
        "  default: {marketing: 0.0604, utility: 0.0077, authentication: 0.0077}\n",
        "",
    );
    let plan = project.plan(AFTER_DUE, &[], 0);
    assert!(
        plan.contains(
            "estimated cost 0.0678 USD: 6 marketing messages, 1 of them unpriced (no rate for \
             the calling code)\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "Estimated cost: 0.076 USD at the rates published 2025-07-01; budget 50.00 USD per \
             apply. 1 message to calling codes without a rate not counted.\n"
        ),
        "{plan}"
    );
    let json = project.plan(AFTER_DUE, &["--format", "json"], 0);
    assert!(
        json.contains("\n\"cost\":{\"amount\":\"0.076\",\"currency\":\"USD\",\"unpriced\":1}"),
        "{json}"
    );
}

#[test]
fn a_saved_plan_finds_the_same_breach_and_cannot_hide_its_cost() {
    let project = Project::example();
    project.edit("herald.yaml", BUDGET, TIGHT_BUDGET);
    let path = project.path().join("plan.json");
    project.plan(
        AFTER_DUE,
        &["--out", path.to_str().unwrap(), "--format", "json"],
        1,
    );
    let document = file::read(&path).expect("the plan reads back");
    assert!(
        matches!(
            document.breaches.as_slice(),
            [Breach::MaxCostPerApply { limit, cost, currency, .. }]
                if *limit == Money::parse("0.1").unwrap()
                    && *cost == Money::parse("0.1364").unwrap()
                    && currency == "USD"
        ),
        "{:?}",
        document.breaches
    );
    let shown = project.herald(&["show", "plan.json"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("Unsafe plan: it breaks 1 safety cap."),
        "{text}"
    );

    // A campaign's cost taken out of the file: the reader refuses it rather than price it at
    // nothing.
    let saved = plan_file_as_json(&path);
    let edited = saved.replacen(
        ",\"cost\":{\"amount\":\"0.1282\",\"currency\":\"USD\",\"category\":\"marketing\",\"unpriced\":0}",
        "",
        1,
    );
    assert_ne!(
        edited, saved,
        "the new-year broadcast's cost is in the plan"
    );
    write_plan_file(&project.path().join("edited.plan"), &edited);
    let refused = project.herald(&["show", "edited.plan"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "the plan file is damaged: campaign new-year-offer has no cost in a priced plan"
        ),
        "{stderr}"
    );
}

#[test]
fn new_rates_are_new_inputs() {
    let setup = Setup::new();
    setup.plan();
    setup
        .project
        .edit("pricing.yaml", "marketing: 0.0107", "marketing: 0.0118");
    let applied = setup.herald(&["apply", "plan.json"]);
    assert_eq!(applied.status.code(), Some(3), "{applied:?}");
    let stderr = String::from_utf8_lossy(&applied.stderr);
    assert!(
        stderr.contains("the project changed since this plan was made"),
        "{stderr}"
    );
    assert!(setup.sends().is_empty(), "nothing was sent");
}

#[test]
fn a_project_without_pricing_plans_without_costs() {
    let project = Project::example();
    project.edit(
        "herald.yaml",
        "pricing: pricing.yaml                      # Meta's rates per message: every plan shows its estimated cost\n",
        "",
    );
    project.edit("herald.yaml", "budget:\n  max_per_apply: 50 ", "");
    let plan = project.plan(AFTER_DUE, &[], 0);
    assert!(!plan.contains("cost"), "{plan}");
    let json = project.plan(AFTER_DUE, &["--format", "json"], 0);
    assert!(!json.contains("\"cost\""), "{json}");
    assert!(!json.contains("\"pricing\""), "{json}");
    let markdown = project.plan(AFTER_DUE, &["--format", "markdown"], 0);
    assert!(markdown.contains("| unchanged |\n"), "{markdown}");
    // Such a plan file is one in the format of before: it reads back without costs.
    let path = project.path().join("plan.json");
    project.plan(AFTER_DUE, &["--out", path.to_str().unwrap()], 0);
    let document = file::read(&path).expect("the plan reads back");
    assert!(document.header.pricing.is_none() && document.cost.is_none());
    assert!(document.campaigns.iter().all(|c| c.cost.is_none()));
    let shown = project.herald(&["show", "plan.json"]);
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
}
