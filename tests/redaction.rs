//! `--redact` hides recipients' data in every diagnostic that can quote it.
//!
//! For each diagnostic code that can quote a recipient's data (a phone, a field's value, a CSV
//! row), a project triggers it with a canary in the data. Run without `--redact`, the canary is
//! printed (so the case really quotes data and the test could fail); run with `--redact`, in
//! every output format, the code is still reported and the canary is gone.

use std::path::Path;
use std::process::Command;

/// A name no message would contain by chance.
const NAME: &str = "Zebulon-Canary";
/// A phone whose digits no message would contain by chance.
const PHONE: &str = "+447700900123";

const HERALD: &str = "api:
  base_url: https://api.engati.ai
  customer_id: 61179
  bot_key: bb67e0773bed4c7e
  api_key_env: ENGATI_API_KEY
";

/// A campaign sending a template with the recipient's name and invoice to `audience`.
fn campaign(audience: &str, body: &str) -> String {
    format!(
        "templates:
  notice:
    language: en
    body: \"Hi {{{{1}}}}, invoice {{{{2}}}}.\"
audiences:
  people:
{audience}
campaigns:
  notice:
    audience: people
    send:
      template:
        use: notice
        body: [{body}, \"{{{{ user.invoice }}}}\"]
"
    )
}

fn csv_audience() -> &'static str {
    "    csv: ../people.csv"
}

const PLAIN_BODY: &str = "\"{{ user.name }}\"";

/// A case: what it shows, the code, the command, and the project's files.
struct Case {
    about: &'static str,
    code: &'static str,
    command: &'static str,
    files: Vec<(&'static str, String)>,
}

fn cases() -> Vec<Case> {
    let good = "+919019486731,John,1\n";
    vec![
        Case {
            about: "a CSV row whose phone is not E.164, shown as the snippet",
            code: "audience::phone",
            command: "validate",
            files: vec![
                ("campaigns/c.yaml", campaign(csv_audience(), PLAIN_BODY)),
                (
                    "people.csv",
                    format!("phone,name,invoice\n{good}0{},{NAME},2\n", &PHONE[1..]),
                ),
            ],
        },
        Case {
            about: "an inline user's phone that is not E.164, quoted in the message",
            code: "audience::phone",
            command: "validate",
            files: vec![(
                "campaigns/c.yaml",
                campaign(
                    &format!("    users:\n      - {{phone: \"{NAME}\", name: A, invoice: \"1\"}}"),
                    PLAIN_BODY,
                ),
            )],
        },
        Case {
            about: "a CSV row with an unclosed quote, shown as the snippet",
            code: "audience::csv",
            command: "validate",
            files: vec![
                ("campaigns/c.yaml", campaign(csv_audience(), PLAIN_BODY)),
                (
                    "people.csv",
                    format!("phone,name,invoice\n{good}{PHONE},\"{NAME},2\n"),
                ),
            ],
        },
        Case {
            about: "a ragged CSV row, shown as the snippet",
            code: "audience::csv",
            command: "validate",
            files: vec![
                ("campaigns/c.yaml", campaign(csv_audience(), PLAIN_BODY)),
                (
                    "people.csv",
                    format!("phone,name,invoice\n{good}{PHONE},{NAME},2,extra\n"),
                ),
            ],
        },
        Case {
            about: "a phone listed twice, named in the warning",
            code: "audience::duplicate",
            command: "plan",
            files: vec![
                ("campaigns/c.yaml", campaign(csv_audience(), PLAIN_BODY)),
                (
                    "people.csv",
                    format!("phone,name,invoice\n{PHONE},A,1\n{PHONE},A,1\n"),
                ),
            ],
        },
        Case {
            about: "a recipient whose message breaks a WhatsApp rule, named by phone",
            code: "whatsapp::limit",
            command: "plan",
            files: vec![
                ("campaigns/c.yaml", campaign(csv_audience(), PLAIN_BODY)),
                (
                    "people.csv",
                    format!("phone,name,invoice\n{good}{PHONE},\"{NAME}\nJr\",2\n"),
                ),
            ],
        },
        Case {
            about: "a recipient whose message fails to render, named by phone with minijinja's reason",
            code: "render::error",
            command: "plan",
            files: vec![
                (
                    "campaigns/c.yaml",
                    campaign(
                        csv_audience(),
                        "\"{{ user.name if user.invoice == '1' else user.name | int(strict=true) }}\"",
                    ),
                ),
                (
                    "people.csv",
                    format!("phone,name,invoice\n{good}{PHONE},{NAME},2\n"),
                ),
            ],
        },
    ]
}

fn run(dir: &Path, command: &str, extra: &[&str]) -> (String, i32) {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg(command)
        .arg("--project")
        .arg(dir)
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("herald runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (text, output.status.code().unwrap_or(-1))
}

#[test]
fn redact_hides_recipients_data_in_every_code_that_quotes_it() {
    let digits = &PHONE[1..];
    for case in cases() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("herald.yaml"), HERALD).expect("write");
        for (path, text) in &case.files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        }
        let (plain, _) = run(dir.path(), case.command, &[]);
        assert!(
            plain.contains(case.code),
            "{}: no {}:\n{plain}",
            case.about,
            case.code
        );
        assert!(
            plain.contains(NAME) || plain.contains(digits),
            "{}: without --redact the data is shown, or this case proves nothing:\n{plain}",
            case.about
        );
        let mut formats = vec!["human", "json"];
        if case.command == "validate" {
            formats.extend(["github", "gitlab"]);
        }
        for format in formats {
            let (text, code) = run(dir.path(), case.command, &["--redact", "--format", format]);
            assert!(
                code != 2 && code != -1,
                "{}: exit {code}:\n{text}",
                case.about
            );
            // GitHub's workflow commands escape `:` in titles; GitLab's report has its own ids.
            let shown = text.contains(case.code) || text.contains(&case.code.replace(':', "%3A"));
            assert!(
                shown || format == "gitlab",
                "{} ({format}): the problem is still reported:\n{text}",
                case.about
            );
            assert!(
                !text.contains(NAME) && !text.contains(digits),
                "{} ({format}): --redact printed the recipient's data:\n{text}",
                case.about
            );
        }
    }
}
