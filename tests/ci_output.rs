//! What herald prints for CI systems: GitHub Actions annotations and job summaries, and
//! GitLab's Code Quality report.

mod plan_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use plan_support::{AFTER_DUE, Project};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invalid")
        .join(case)
}

/// `herald validate ARGS --project FIXTURE` with these variables set.
fn validate(case: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .arg("validate")
        .args(args)
        .arg("--project")
        .arg(fixture(case))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the herald binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn validate_annotates_errors_and_warnings_for_github() {
    let output = validate("undefined-user-field", &["--format", "github"], &[]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("github_error", stdout(&output));
    let output = validate("empty-resource-file", &["--format", "github"], &[]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!("github_warning", stdout(&output));
}

#[test]
fn in_github_actions_human_output_is_followed_by_annotations() {
    let output = validate("undefined-user-field", &[], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let annotations = stdout(&validate(
        "undefined-user-field",
        &["--format", "github"],
        &[],
    ));
    assert!(text.ends_with(&annotations), "{text}");
    assert!(
        text.contains("× undefined variable"),
        "the human report comes first: {text}"
    );
}

#[test]
fn validate_writes_a_gitlab_code_quality_report() {
    let output = validate("undefined-user-field", &["--format", "gitlab"], &[]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("gitlab", stdout(&output));
    let again = validate("undefined-user-field", &["--format", "gitlab"], &[]);
    assert_eq!(stdout(&again), stdout(&output), "fingerprints are stable");
}

#[test]
fn plan_appends_its_markdown_to_the_github_step_summary() {
    let project = Project::example();
    let summary = project.path().join("step-summary.md");
    std::fs::write(&summary, "## Validate\n\nok\n").unwrap();
    let path = summary.to_str().unwrap();
    let args = [
        "plan",
        "--emulator",
        "--now",
        AFTER_DUE,
        "--redact",
        "--github-summary",
    ];
    let output = project.herald_with_env(&args, &[("GITHUB_STEP_SUMMARY", path)]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let markdown = project.plan(AFTER_DUE, &["--format", "markdown", "--redact"], 0);
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        format!("## Validate\n\nok\n{markdown}"),
        "appended after what earlier steps wrote"
    );
    // Outside GitHub Actions the flag changes nothing.
    let output = project.herald_with_env(&args, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}
