//! Every herald command line written in README.md and docs/*.md parses with clap's
//! definitions (the commands, subcommands and flags exist, and their values are accepted),
//! and every flag default the docs state is clap's default. Docs cannot drift from the CLI.

use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use herald::cli::Cli;

/// README.md and every page of docs/.
fn pages() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("docs/ is readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a page is readable");
            (p, text)
        })
        .collect()
}

/// What the emulator prints, quoted in the docs: herald's output, not a command.
const OUTPUT: &str = "herald emulator listening on";

/// The herald command lines of a page, with their line numbers: inline code spans that start
/// with `herald `, and lines of shell and YAML code blocks that run herald (`herald …`,
/// `$ herald …`, `run: herald …`, `- herald …`, `target/release/herald …`, or after `&&`).
fn command_lines(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // The language of the code block the line is in, if it is in one.
    let mut block: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(fence.trim()),
            };
            continue;
        }
        if line.contains(OUTPUT) {
            continue;
        }
        if let Some(language) = block {
            if !matches!(language, "sh" | "yaml") {
                continue;
            }
            let mut rest = line;
            while let Some(at) = rest.find("herald ") {
                let before = rest[..at].trim_end();
                let starts_command = before.is_empty()
                    || ["$", "&&", "run:", "-", "|", "(", ";", "/"]
                        .iter()
                        .any(|p| before.ends_with(p));
                if starts_command {
                    found.push((i + 1, rest[at..].to_owned()));
                    break;
                }
                rest = &rest[at + "herald ".len()..];
            }
        } else {
            for span in line.split('`').skip(1).step_by(2) {
                if span.starts_with("herald ") {
                    found.push((i + 1, span.to_owned()));
                }
            }
        }
    }
    found
}

/// The words of one command line, up to what ends it (a pipe, `&&`, a redirection, a
/// comment), with quotes removed and `[optional]` and `…` placeholders dropped.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut optional = 0;
    for word in command.split_whitespace() {
        if [
            "|", "&", "&&", "||", ";", "#", ">", "2>", "2>&1", ">>", "\\",
        ]
        .contains(&word)
            || word.starts_with('#')
            || word.starts_with('>')
            || word.starts_with("2>")
        {
            break;
        }
        if word.starts_with('[') {
            optional += 1;
        }
        let closes = word.ends_with(']');
        if optional == 0 && !matches!(word, "..." | "…") {
            let word = word
                .trim_matches(|c| c == '"' || c == '\'')
                .trim_end_matches([';', ',']);
            words.push(word.to_owned());
        }
        if closes && optional > 0 {
            optional -= 1;
        }
    }
    words
}

/// The command lines `a|b` stands for in the first word holding one (`mark-sent|forget`, in a
/// table escaped as `mark-sent\|forget`); a value like that is a placeholder and stays.
fn alternatives(words: Vec<String>) -> Vec<Vec<String>> {
    let split = words
        .iter()
        .position(|w| !w.starts_with('-') && w.replace('\\', "").contains('|'));
    let Some(at) = split.filter(|at| *at < 3) else {
        return vec![words];
    };
    words[at]
        .replace('\\', "")
        .split('|')
        .map(|choice| {
            let mut variant = words.clone();
            variant[at] = choice.to_owned();
            variant
        })
        .collect()
}

/// A value in the docs that stands for one the reader chooses (`FILE`, `<dir>`, `a|b`).
fn placeholder(value: &str) -> bool {
    value.contains(['|', '<', '{', '$'])
        || (value.chars().any(|c| c.is_ascii_uppercase())
            && value
                .chars()
                .all(|c| c.is_ascii_uppercase() || "_:/.-0123456789".contains(c)))
}

/// The command lines of one page that herald does not accept, and how many were checked.
fn refused_commands(file: &str, text: &str) -> (usize, Vec<String>) {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (line, command) in command_lines(text) {
        for words in alternatives(words(&command)) {
            checked += 1;
            let Err(e) = Cli::try_parse_from(&words) else {
                continue;
            };
            // Prose names commands without their required values (`herald state unlock`),
            // and a placeholder value is not one clap can take.
            let fine = match e.kind() {
                ErrorKind::MissingRequiredArgument
                | ErrorKind::MissingSubcommand
                | ErrorKind::DisplayHelp
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                | ErrorKind::DisplayVersion => true,
                ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
                    words.iter().any(|w| placeholder(w))
                }
                _ => false,
            };
            if !fine {
                let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                wrong.push(format!("{file}:{line}: `{command}`: {first}"));
            }
        }
    }
    (checked, wrong)
}

#[test]
fn every_documented_command_line_parses() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in pages() {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let (n, refused) = refused_commands(&file, &text);
        checked += n;
        wrong.extend(refused);
    }
    assert!(
        checked > 50,
        "only {checked} command lines found: is the scan broken?"
    );
    assert!(
        wrong.is_empty(),
        "command lines in the docs that herald does not accept:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_flag_or_command_herald_lacks_is_caught() {
    let page = "Run `herald plan --out plan.json --colour`, then:\n\n```sh\n\
                herald aply plan.json   # typo\nherald state mark-sent|forget welcome\n```\n";
    let (checked, wrong) = refused_commands("page.md", page);
    assert_eq!(checked, 4);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(wrong[0].starts_with("page.md:1: `herald plan --out plan.json --colour`"));
    assert!(wrong[1].starts_with("page.md:4: `herald aply plan.json"));
}

/// Every `| `--flag …` | default | …` row of a docs table whose header names a default.
fn documented_defaults(text: &str) -> Vec<(usize, String, String)> {
    let mut rows = Vec::new();
    let mut default_column = None;
    for (i, line) in text.lines().enumerate() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if !line.starts_with('|') || cells.len() < 3 {
            default_column = None;
            continue;
        }
        if let Some(column) = cells.iter().position(|c| c.eq_ignore_ascii_case("default")) {
            default_column = Some(column);
            continue;
        }
        let (Some(column), Some(flag)) = (default_column, cells.get(1)) else {
            continue;
        };
        let Some(flag) = flag.strip_prefix("`--") else {
            continue;
        };
        let name = flag.split([' ', '`']).next().unwrap_or_default();
        let default = cells.get(column).copied().unwrap_or_default();
        rows.push((i + 1, name.to_owned(), default.trim_matches('`').to_owned()));
    }
    rows
}

/// The defaults of a flag on any command that has it: its default values, `off` for a
/// switch, nothing for an optional value.
fn clap_defaults(flag: &str) -> Vec<Option<String>> {
    fn walk(command: &clap::Command, flag: &str, out: &mut Vec<Option<String>>) {
        for arg in command.get_arguments() {
            if arg.get_long() != Some(flag) {
                continue;
            }
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let switch = matches!(arg.get_action(), clap::ArgAction::SetTrue);
            out.push(match (switch, defaults.as_slice()) {
                (true, _) => Some("off".to_owned()),
                (false, [one]) => Some(one.clone()),
                _ => None,
            });
        }
        for sub in command.get_subcommands() {
            walk(sub, flag, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), flag, &mut out);
    out
}

/// The documented defaults of one page that are not clap's, and how many were checked.
fn wrong_defaults(file: &str, text: &str) -> (usize, Vec<String>) {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (line, flag, documented) in documented_defaults(text) {
        checked += 1;
        let defaults = clap_defaults(&flag);
        if defaults.is_empty() {
            wrong.push(format!(
                "{file}:{line}: --{flag} is not a flag of any command"
            ));
            continue;
        }
        let agrees = defaults.iter().any(|d| match d {
            Some(value) => value == &documented,
            // No default value: the docs say what happens without one, in words.
            None => documented
                .split_whitespace()
                .all(|w| w.chars().all(|c| c.is_alphabetic() || "()-".contains(c))),
        });
        if !agrees {
            wrong.push(format!(
                "{file}:{line}: --{flag} defaults to {documented:?} in the docs, {defaults:?} in clap"
            ));
        }
    }
    (checked, wrong)
}

#[test]
fn every_documented_flag_default_is_clap_s() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in pages() {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let (n, found) = wrong_defaults(&file, &text);
        checked += n;
        wrong.extend(found);
    }
    assert!(checked >= 10, "only {checked} documented defaults found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_default_the_docs_get_wrong_is_caught() {
    let page = "| flag | default | what |\n|---|---|---|\n| `--retry-after S` | 5 | x |\n\
                | `--hang F` | 0 | y |\n| `--seed FILE` | the built-in seed | z |\n\
                | `--colour` | off | w |\n";
    let (checked, wrong) = wrong_defaults("page.md", page);
    assert_eq!(checked, 4);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(wrong[0].starts_with("page.md:3: --retry-after defaults to \"5\""));
    assert!(wrong[1].starts_with("page.md:6: --colour is not a flag"));
}

#[test]
fn the_concurrency_default_in_help_and_docs_is_the_client_s() {
    let default = herald::engati::config::DEFAULT_CONCURRENCY;
    let help = Cli::command()
        .find_subcommand_mut("apply")
        .expect("apply exists")
        .render_long_help()
        .to_string();
    assert!(help.contains(&format!("else {default})")), "{help}");
    let readme = &pages()[0].1;
    assert!(
        readme.contains(&format!("(default `api.concurrency`, else {default})")),
        "README.md states another --concurrency default"
    );
}
