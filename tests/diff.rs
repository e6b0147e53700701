//! `herald diff --base REV`: a pull request reviewed by its rendered messages, with nothing
//! but the repository (no state, no API key), as a fork's pull request is.

mod plan_support;

use std::path::Path;
use std::process::{Command, Output};

use plan_support::{AFTER_DUE, Project, git};

/// The example project in a fresh git repository, committed once.
fn repository() -> Project {
    let project = Project::example();
    git(project.path(), &["init", "-q", "-b", "main"]);
    commit(project.path(), "the example");
    project
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--no-gpg-sign", "-m", message]);
}

/// `herald diff --now AFTER_DUE ARGS`; asserts the exit code and returns standard output.
fn diff(project: &Project, args: &[&str], code: i32) -> String {
    let mut all = vec!["diff", "--now", AFTER_DUE];
    all.extend_from_slice(args);
    let output = project.herald_with_env(&all, &[("GIT_CONFIG_GLOBAL", "/dev/null")]);
    check(&output, &all, code)
}

/// [`diff`] with `--format json`, parsed.
fn diff_json(project: &Project, args: &[&str]) -> serde_json::Value {
    let text = diff(project, &[args, &["--format", "json"]].concat(), 0);
    serde_json::from_str(&text).expect("valid JSON")
}

fn check(output: &Output, args: &[&str], code: i32) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "herald {args:?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A typical change: a template filter, a schedule, a new CSV row, a removed one.
fn typical_change(project: &Project) {
    project.edit(
        "campaigns/invoice-reminders.yaml",
        "{{ user.first_name | title }}",
        "{{ user.first_name | upper }}",
    );
    project.edit(
        "campaigns/invoice-reminders.yaml",
        "2026-12-01T09:00:00+05:30",
        "2026-12-01T10:00:00+05:30",
    );
    project.append("audiences/vip.csv", "+919999900001,zed,40099\n");
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({filters => vec![
            (r"\b[0-9a-f]{40}\b", "[commit]"),
            (r"\([0-9a-f]{7}\)", "([commit])"),
        ]}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn a_change_is_reviewed_by_the_messages_it_changes() {
    let project = repository();
    typical_change(&project);
    let text = diff(&project, &["--base", "main", "--emulator"], 0);
    snapshot!("typical_change_human", text);
    // The exit code tells a pipeline whether any message changed.
    diff(
        &project,
        &["--base", "main", "--emulator", "--detailed-exitcode"],
        2,
    );
}

#[test]
fn an_unchanged_project_says_so() {
    let project = repository();
    // Formatting and comments change nothing anyone receives.
    project.edit(
        "campaigns/invoice-reminders.yaml",
        "December invoice reminders",
        "December invoice reminders  ",
    );
    let text = diff(&project, &["--base", "main", "--detailed-exitcode"], 0);
    assert!(
        text.contains("No changes: every rendered message is the same as at main ("),
        "{text}"
    );
    assert!(
        text.contains("Not compared: the Users API audiences (opt1 = yes)"),
        "without --emulator the Users API is not called, and the output says so: {text}"
    );
}

#[test]
fn a_pull_request_comment_hides_recipients_with_redact() {
    let project = repository();
    typical_change(&project);
    let text = diff(
        &project,
        &[
            "--base",
            "main",
            "--emulator",
            "--format",
            "markdown",
            "--redact",
        ],
        0,
    );
    snapshot!("typical_change_markdown_redacted", text.clone());
    for private in [
        "9019486731",
        "John",
        "JOHN",
        "zed",
        "ZED",
        "40099",
        "inv/12345",
    ] {
        assert!(!text.contains(private), "{private} in {text}");
    }
}

#[test]
fn json_lists_every_campaign_with_its_counts() {
    let project = repository();
    typical_change(&project);
    let doc = diff_json(&project, &["--base", "main", "--emulator"]);
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["base"]["revision"], "main");
    let campaigns = doc["campaigns"].as_array().expect("campaigns");
    let summary: Vec<String> = campaigns
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["name"].as_str().unwrap_or_default(),
                c["status"].as_str().unwrap_or_default(),
                c["counts"]
            )
        })
        .collect();
    insta::assert_snapshot!(summary.join("\n"), @r#"
    feedback-flow unchanged {"added":0,"removed":0,"changed":0,"unchanged":2}
    invoice-reminder-dec changed {"added":1,"removed":0,"changed":4,"unchanged":0}
    new-year-offer changed {"added":1,"removed":0,"changed":0,"unchanged":6}
    weekend-offer changed {"added":1,"removed":0,"changed":0,"unchanged":3}
    "#);
    let invoice = &campaigns[1];
    assert_eq!(
        invoice["settings"],
        serde_json::json!([{"name": "schedule", "before": "2026-12-01T03:30:00Z", "after": "2026-12-01T04:30:00Z"}])
    );
    let first = &invoice["samples"][0];
    assert_eq!(first["change"], "changed");
    assert!(first["before"]["body"].is_object() && first["after"]["body"].is_object());
}

#[test]
fn added_and_removed_campaigns_and_recipients() {
    let project = repository();
    std::fs::remove_file(project.path().join("campaigns/triggers.yaml")).expect("removed");
    project.append(
        "campaigns/broadcasts.yaml",
        "\n  spring-offer:\n    audience: testers\n    send:\n      broadcast:\n        \
         title: Spring\n        channels: [whatsapp]\n        \
         messages: [\"Spring is here, {{ vars.brand }}!\"]\n",
    );
    project.edit("audiences/vip.csv", "+919178921978,jahnavi,12346\n", "");
    let text = diff(&project, &["--base", "main", "--emulator"], 0);
    snapshot!("added_and_removed", text);
}

#[test]
fn a_project_new_in_the_pull_request_is_all_added() {
    let project = Project::example();
    git(project.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(project.path().join("README"), "before the project\n").expect("written");
    git(project.path(), &["add", "README"]);
    git(
        project.path(),
        &["commit", "-q", "--no-gpg-sign", "-m", "empty"],
    );
    let doc = diff_json(&project, &["--base", "main"]);
    assert_eq!(doc["base"]["project_existed"], false);
    let statuses: Vec<&str> = doc["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .map(|c| c["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["added"; 4]);
}

#[test]
fn needs_no_state_and_no_key_and_touches_neither() {
    let project = repository();
    typical_change(&project);
    // A state URL that cannot work and a key that must not be read: diff uses neither.
    let output = project.herald_with_env(
        &["diff", "--now", AFTER_DUE, "--base", "main"],
        &[
            (
                "HERALD_STATE_URL",
                "postgres://herald:hunter2@192.0.2.1:1/nowhere",
            ),
            ("ENGATI_API_KEY", "hk_LEAK_CANARY_diff"),
        ],
    );
    let text = check(&output, &["diff"], 0);
    assert!(
        !text.contains("hunter2") && !text.contains("LEAK_CANARY"),
        "{text}"
    );
    assert!(
        !project.path().join(".herald").exists(),
        "diff never creates state"
    );
    // Nor does it change the repository: the edits are still the working tree's alone.
    let status = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(project.path())
        .output()
        .expect("git runs");
    insta::assert_snapshot!(String::from_utf8_lossy(&status.stdout), @r"
     M audiences/vip.csv
     M campaigns/invoice-reminders.yaml
    ");
}

#[test]
fn base_revision_problems_are_reported_apart() {
    let project = repository();
    project.edit(
        "campaigns/broadcasts.yaml",
        "{{ vars.brand }}",
        "{{ vars.brand",
    );
    commit(project.path(), "broken");
    git(project.path(), &["tag", "broken"]);
    // Fixed in the working tree; the base is the broken commit.
    project.edit(
        "campaigns/broadcasts.yaml",
        "{{ vars.brand",
        "{{ vars.brand }}",
    );
    let text = diff(&project, &["--base", "broken"], 1);
    snapshot!("base_has_problems", text);
}

#[test]
fn an_unknown_revision_is_a_clear_error() {
    let project = repository();
    for rev in ["no-such-branch", "--output=/tmp/x"] {
        let output = project.herald(&["diff", &format!("--base={rev}")]);
        assert_eq!(output.status.code(), Some(2), "{rev}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("error: git knows no commit `{rev}`"))
                && stderr.contains("help: fetch it first"),
            "{stderr}"
        );
    }
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let project = Project::example();
    let output = project.herald_with_env(
        &["diff", "--base", "main"],
        &[("GIT_CEILING_DIRECTORIES", "/")],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not inside a git repository")
            && stderr.contains("help: run herald diff inside a clone"),
        "{stderr}"
    );
}

#[test]
fn a_project_in_a_subdirectory_of_the_repository() {
    let project = Project::example();
    let repo = project.path();
    // The project moves to marketing/ in a repository that holds other things too.
    let sub = repo.join("marketing");
    std::fs::create_dir_all(&sub).expect("created");
    for name in ["herald.yaml", "pricing.yaml", "campaigns", "audiences"] {
        std::fs::rename(repo.join(name), sub.join(name)).expect("moved");
    }
    std::fs::write(repo.join("README"), "not herald's\n").expect("written");
    git(repo, &["init", "-q", "-b", "main"]);
    commit(repo, "the example, in marketing/");
    let vip = sub.join("audiences/vip.csv");
    let mut text = std::fs::read_to_string(&vip).expect("vip.csv");
    text.push_str("+919999900001,zed,40099\n");
    std::fs::write(&vip, text).expect("written");

    let doc = diff_json(&project, &["--base", "main", "--project", "marketing"]);
    let invoice = doc["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .find(|c| c["name"] == "invoice-reminder-dec")
        .expect("the invoice campaign");
    assert_eq!(invoice["counts"]["added"], 1, "{invoice}");
    assert_eq!(invoice["counts"]["unchanged"], 4, "{invoice}");
}

#[test]
fn an_edit_to_a_templates_approved_text_is_a_change() {
    let project = repository();
    project.edit(
        "campaigns/templates.yaml",
        "Hi {{1}}, invoice {{2}} for {{3}} is due.",
        "Hello {{1}}, invoice {{2}} for {{3}} is due.",
    );
    let text = diff(&project, &["--base", "main", "--detailed-exitcode"], 2);
    assert!(
        text.contains(
            "template body: Hi {{1}}, invoice {{2}} for {{3}} is due. → Hello {{1}}, invoice {{2}} for {{3}} is due."
        ),
        "{text}"
    );
}

#[test]
fn the_pull_request_giving_an_environment_its_own_state_can_be_compared() {
    let project = repository();
    let own_state = "    state: {path: .herald/staging.db}        # staging sends never count as production sends\n";
    project.edit("herald.yaml", own_state, "");
    commit(project.path(), "staging without a state of its own");
    project.edit(
        "herald.yaml",
        "    vars: {brand: Renuka Sugars (staging)}",
        &format!("{own_state}    vars: {{brand: Renuka Sugars (staging)}}"),
    );
    let text = diff(&project, &["--base", "main"], 0);
    assert!(text.contains("No changes"), "{text}");
}

#[test]
fn errors_are_not_mistaken_for_changes_with_detailed_exitcode() {
    let project = repository();
    let output = project.herald(&["diff", "--base", "nosuch", "--detailed-exitcode"]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn links_inside_the_repository_are_kept_and_links_leaving_it_refused() {
    let project = repository();
    let link = |name: &str, target: &str| {
        std::os::unix::fs::symlink(target, project.path().join(name)).expect("linked");
    };
    link("audiences/vip-again.csv", "vip.csv");
    commit(project.path(), "a link inside");
    diff(&project, &["--base", "main"], 0);

    link("audiences/elsewhere.csv", "../../outside.csv");
    link("audiences/absolute.csv", "/etc/hostname");
    commit(project.path(), "links leaving the repository");
    git(project.path(), &["tag", "links"]);
    let output = project.herald(&["diff", "--base", "links"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("audiences/absolute.csv at links is a symbolic link to /etc/hostname, outside the repository")
            && stderr.contains("help: herald diff reads only the repository's own files"),
        "{stderr}"
    );
}

#[test]
fn a_renamed_campaign_is_shown_as_a_rename() {
    let project = repository();
    // `previously:` keeps what was sent under the old name: the review says so rather than
    // showing one campaign removed and another added with its whole audience.
    project.edit(
        "campaigns/broadcasts.yaml",
        "  weekend-offer:\n",
        "  weekend-deal:\n    previously: [weekend-offer]\n",
    );
    project.edit(
        "campaigns/triggers.yaml",
        "  feedback-flow:\n",
        "  feedback-survey:\n    previously: [feedback-flow]\n",
    );
    project.edit("audiences/vip.csv", "+919178921978,jahnavi,12346\n", "");
    let text = diff(
        &project,
        &["--base", "main", "--emulator", "--detailed-exitcode"],
        2,
    );
    snapshot!("renamed", text);
    let markdown = diff(
        &project,
        &["--base", "main", "--emulator", "--format", "markdown"],
        0,
    );
    snapshot!("renamed_markdown", markdown);
    let doc = diff_json(&project, &["--base", "main", "--emulator"]);
    let summary: Vec<String> = doc["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .map(|c| format!("{} {} {}", c["name"], c["status"], c["renamed_from"]))
        .collect();
    insta::assert_snapshot!(summary.join("\n"), @r#"
    "feedback-survey" "renamed" "feedback-flow"
    "invoice-reminder-dec" "changed" null
    "new-year-offer" "unchanged" null
    "weekend-deal" "changed" "weekend-offer"
    "#);
}
