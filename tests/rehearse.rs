//! Any project can be rehearsed as it is: `herald init`'s starter, served by an emulator seeded
//! from the project itself (`herald emulator --seed-from-project`), plans and applies to its
//! staging environment with every send accepted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use herald::emulator::{BUILTIN_API_KEY, Seed};

fn herald(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env("ENGATI_API_KEY", BUILTIN_API_KEY)
        .env("NO_COLOR", "1")
        .output()
        .expect("herald runs")
}

/// The seed `--seed-from-project` serves for `root`.
fn seed_of(root: &Path) -> Seed {
    let loaded = herald::load::load(root).expect("the project loads");
    let validated = herald::validate::validate(&loaded, &herald::validate::Options::default());
    assert!(!validated.has_errors());
    let seed = Seed::from_project(&loaded, &validated.catalog);
    seed.check().expect("a valid seed");
    seed
}

#[test]
fn the_starter_rehearses_end_to_end_against_an_emulator_seeded_from_it() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        herald(dir.path(), &["init", "starter"]).status.code(),
        Some(0)
    );
    let root = dir.path().join("starter");
    let seed = seed_of(&root);
    let bot = &seed.customers[0].bots[0];
    assert_eq!(bot.templates.keys().collect::<Vec<_>>(), ["welcome"]);
    assert_eq!(bot.flows, ["replace_with_your_flow_key"]);
    let phones: Vec<&str> = bot.users.iter().map(|u| u.phone.as_str()).collect();
    assert!(phones.contains(&"+919019486731"), "{phones:?}");

    // The emulator as a user starts it, from the project's directory.
    let mut emulator = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["emulator", "--addr", "127.0.0.1:0", "--seed-from-project"])
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(emulator.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("herald emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let settings = root.join("herald.yaml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains(r#"api: {base_url: "http://127.0.0.1:8787"}"#));
    let text = text.replace(
        r#"api: {base_url: "http://127.0.0.1:8787"}"#,
        &format!(r#"api: {{base_url: "{base}"}}"#),
    );
    std::fs::write(&settings, text).unwrap();

    let planned = herald(&root, &["plan", "--env", "staging", "--out", "plan.json"]);
    assert_eq!(planned.status.code(), Some(0), "{planned:?}");
    let applied = herald(&root, &["apply", "plan.json"]);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "every send accepted: {applied:?}"
    );
    let url = format!("{base}/_emulator/requests");
    let requests = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(url).await?.text().await })
        .unwrap();
    let sends = requests.lines().filter(|l| l.contains("\"POST\"")).count();
    assert_eq!(sends, 2, "the two testers: {requests}");
    let again = herald(&root, &["plan", "--env", "staging", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "nothing left: {again:?}");
    emulator.kill().unwrap();
    emulator.wait().unwrap();
}

#[test]
fn the_built_in_seed_does_not_serve_the_starter() {
    // Why the flag exists: the starter's template and flow are not in the built-in seed.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        herald(dir.path(), &["init", "starter"]).status.code(),
        Some(0)
    );
    let bot = &Seed::builtin().customers[0].bots[0];
    assert!(!bot.templates.contains_key("welcome"));
    let seeded = seed_of(&dir.path().join("starter"));
    assert!(
        seeded.customers[0].bots[0]
            .templates
            .contains_key("welcome")
    );
}
