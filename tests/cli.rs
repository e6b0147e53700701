//! The `herald` binary end to end: the bundled example project, `herald init`, the committed
//! schemas, output formats and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn herald(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("ENGATI_API_KEY")
        .output()
        .expect("the herald binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_example_project_validates_clean() {
    let output = herald(&repo(), &["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    insta::assert_snapshot!(stdout(&output), @"valid: 6 files, 2 templates, 5 audiences, 4 campaigns");
}

#[test]
fn the_example_project_validates_clean_as_json_in_every_environment() {
    for args in [
        &["validate", "--format", "json"][..],
        &["validate", "--format", "json", "--env", "staging"][..],
        &["validate", "--format", "json", "--var", "brand=Acme"][..],
    ] {
        let output = herald(&repo(), args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stdout(&output)
        );
        assert_eq!(stdout(&output), "[]\n");
    }
}

#[test]
fn validate_finds_the_project_from_a_subdirectory() {
    let output = herald(&repo().join("campaigns"), &["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn init_creates_a_project_that_validates_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = herald(dir.path(), &["init", "starter"]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&output), @r"
    created starter/herald.yaml
    created starter/pricing.yaml
    created starter/campaigns/welcome.yaml
    created starter/audiences/testers.csv
    created starter/audiences/unsubscribed.csv
    created starter/.gitignore
    created starter/schemas/herald.schema.json
    created starter/schemas/herald-project.schema.json
    created starter/schemas/herald-pricing.schema.json

    next: cd starter && herald validate
    ");
    let project = dir.path().join("starter");
    let gitignore = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    insta::assert_snapshot!(gitignore, @r"
    # herald: the state, and saved plans (they hold phones and message text)
    .herald/
    *.plan
    plan.json
    *.plan.json
    ");
    let welcome = std::fs::read_to_string(project.join("campaigns/welcome.yaml")).unwrap();
    assert!(welcome.starts_with("# yaml-language-server: $schema=../schemas/herald.schema.json"));

    let output = herald(&project, &["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn init_adds_only_the_ignore_lines_an_existing_gitignore_lacks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".gitignore"), "target/\n.herald/").unwrap();
    assert_eq!(herald(dir.path(), &["init"]).status.code(), Some(0));
    let gitignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    insta::assert_snapshot!(gitignore, @r"
    target/
    .herald/
    # herald: the state, and saved plans (they hold phones and message text)
    *.plan
    plan.json
    *.plan.json
    ");
    std::fs::remove_dir_all(dir.path().join("campaigns")).unwrap();
    for file in ["herald.yaml", "pricing.yaml"] {
        std::fs::remove_file(dir.path().join(file)).unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("audiences")).unwrap();
    assert_eq!(herald(dir.path(), &["init"]).status.code(), Some(0));
    let again = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert_eq!(again, gitignore, "a second init adds nothing");
}

#[test]
fn init_never_overwrites_a_project() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(herald(dir.path(), &["init"]).status.code(), Some(0));
    std::fs::write(dir.path().join("campaigns/welcome.yaml"), "# mine\n").unwrap();
    let output = herald(dir.path(), &["init"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
    let kept = std::fs::read_to_string(dir.path().join("campaigns/welcome.yaml")).unwrap();
    assert_eq!(kept, "# mine\n");
}

#[test]
fn committed_schemas_match_the_types() {
    // When this fails, run `cargo run -- schema --write` and review the diff like code.
    for (name, generated) in herald::schema::files() {
        let path = repo().join("schemas").join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is out of date: run `cargo run -- schema --write`",
            path.display()
        );
    }
    let output = herald(&repo(), &["schema", "--check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn every_schema_property_has_a_description() {
    fn walk(value: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = value.get("properties").and_then(|p| p.as_object()) {
            for (name, prop) in props {
                if prop.get("description").is_none() {
                    missing.push(format!("{path}/{name}"));
                }
            }
        }
        if let Some(map) = value.as_object() {
            for (key, child) in map {
                walk(child, &format!("{path}/{key}"), missing);
            }
        }
    }
    for (name, text) in herald::schema::files() {
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut missing = Vec::new();
        walk(&value, "", &mut missing);
        assert!(missing.is_empty(), "{name}: no description for {missing:?}");
    }
}

#[test]
fn schema_prints_both_schemas() {
    let resource = herald(&repo(), &["schema"]);
    assert_eq!(resource.status.code(), Some(0));
    assert!(stdout(&resource).contains("\"title\": \"herald resource file\""));
    let settings = herald(&repo(), &["schema", "--settings"]);
    assert!(stdout(&settings).contains("\"title\": \"herald project settings (herald.yaml)\""));
}

#[test]
fn a_stale_schema_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        herald(dir.path(), &["schema", "--write"]).status.code(),
        Some(0)
    );
    std::fs::write(dir.path().join("schemas/herald.schema.json"), "{}").unwrap();
    let output = herald(dir.path(), &["schema", "--check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("herald schema --write"));
}

#[test]
fn usage_and_io_problems_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let no_project = herald(dir.path(), &["validate"]);
    assert_eq!(no_project.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&no_project.stderr).into_owned();
    assert!(stderr.contains("no herald.yaml in"), "{stderr}");
    assert!(stderr.contains("herald init"), "{stderr}");

    let not_a_project = herald(dir.path(), &["validate", "--project", "nowhere"]);
    assert_eq!(not_a_project.status.code(), Some(2));

    let bad_flag = herald(&repo(), &["validate", "--format", "xml"]);
    assert_eq!(bad_flag.status.code(), Some(2));

    let bad_var = herald(&repo(), &["validate", "--var", "no-equals-sign"]);
    assert_eq!(bad_var.status.code(), Some(2));
}

#[test]
fn variables_from_the_environment_and_flags_reach_templates() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(herald(dir.path(), &["init"]).status.code(), Some(0));
    let campaign = dir.path().join("campaigns/welcome.yaml");
    let text = std::fs::read_to_string(&campaign)
        .unwrap()
        .replace("{{ vars.brand }}", "{{ vars.brand }} {{ vars.season }}");
    std::fs::write(&campaign, text).unwrap();

    let missing = herald(dir.path(), &["validate"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stdout(&missing).contains("undefined variable `vars.season`"));

    let by_flag = herald(dir.path(), &["validate", "--var", "season=winter"]);
    assert_eq!(by_flag.status.code(), Some(0), "{}", stdout(&by_flag));

    let by_env = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["validate"])
        .current_dir(dir.path())
        .env("HERALD_VAR_season", "winter")
        .output()
        .unwrap();
    assert_eq!(by_env.status.code(), Some(0), "{}", stdout(&by_env));
}

/// A starter project with one error: a misspelt top-level key.
fn starter_with_a_typo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(herald(dir.path(), &["init"]).status.code(), Some(0));
    std::fs::write(
        dir.path().join("campaigns/typo.yaml"),
        "campaign:\n  x: {}\n",
    )
    .unwrap();
    dir
}

#[test]
fn no_color_output_has_no_escape_codes() {
    let dir = starter_with_a_typo();
    let output = herald(dir.path(), &["validate"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!stdout(&output).contains('\u{1b}'));
}

#[test]
fn output_is_byte_identical_across_runs_and_sorted_by_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(herald(dir.path(), &["init"]).status.code(), Some(0));
    // Problems in several files, written in an order unlike the sorted one.
    for (name, text) in [
        (
            "campaigns/zeta.yaml",
            "campaigns:\n  z: {audience: nobody, send: {}}\n",
        ),
        (
            "campaigns/alpha.yaml",
            "audiences:\n  a: {users: [{phone: \"12\"}]}\n",
        ),
        (
            "campaigns/nested/mid.yml",
            "templates:\n  t: {language: en, body: \"{{2}}\"}\n",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let first = herald(dir.path(), &["validate", "--format", "json"]);
    for _ in 0..3 {
        let again = herald(dir.path(), &["validate", "--format", "json"]);
        assert_eq!(first.stdout, again.stdout);
    }
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&first.stdout).unwrap();
    let files: Vec<&str> = parsed.iter().map(|d| d["file"].as_str().unwrap()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
    assert!(files.contains(&"campaigns/nested/mid.yml"));
}

/// Runs herald under a pseudo-terminal (util-linux `script`), as a user at a terminal would.
fn herald_on_a_terminal(dir: &Path, no_color: bool) -> String {
    let mut command = Command::new("script");
    command
        .args([
            "-qec",
            &format!("{} validate", env!("CARGO_BIN_EXE_herald")),
            "/dev/null",
        ])
        .current_dir(dir)
        .env_remove("NO_COLOR");
    if no_color {
        command.env("NO_COLOR", "1").env_remove("GITHUB_ACTIONS");
    }
    let output = command.output().expect("util-linux `script` is installed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn human_output_is_colored_on_a_terminal_unless_no_color_is_set() {
    let dir = starter_with_a_typo();
    let colored = herald_on_a_terminal(dir.path(), false);
    assert!(colored.contains("unknown field"), "{colored}");
    assert!(
        colored.contains('\u{1b}'),
        "no color on a terminal: {colored}"
    );
    let plain = herald_on_a_terminal(dir.path(), true);
    assert!(plain.contains("unknown field"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "color despite NO_COLOR: {plain}");
}

#[test]
fn project_pointing_inside_a_project_names_the_project() {
    let output = herald(&repo(), &["validate", "--project", "campaigns"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains("campaigns has no herald.yaml; it is inside the project at ."),
        "{stderr}"
    );
    assert!(stderr.contains("pass --project ."), "{stderr}");
}
