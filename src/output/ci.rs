//! Diagnostics where CI systems show them: GitHub Actions workflow commands (annotations on the
//! pull request's diff) and GitLab's Code Quality report (the merge request widget).

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};
use crate::fingerprint::Fingerprint;

/// Whether herald runs in a GitHub Actions job (which sets `GITHUB_ACTIONS=true`).
pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// One `::error file=F,line=L,col=C,title=CODE::MESSAGE` line per diagnostic (`::warning` for
/// warnings); the help follows the message on a line of its own.
pub fn github(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{command} file={},line={},col={},title={}::{}\n",
            property(&d.file),
            d.line(),
            d.column(),
            property(d.code.as_str()),
            data(&message)
        ));
    }
    out
}

/// A workflow command's data, escaped as GitHub's runner expects.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped as GitHub's runner expects.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// An issue of GitLab's Code Quality report.
#[derive(Serialize)]
struct Issue<'a> {
    description: String,
    check_name: &'static str,
    fingerprint: String,
    severity: &'static str,
    location: Location<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

/// The diagnostics as a GitLab Code Quality report (a JSON array). Fingerprints identify an
/// issue across pipelines: its code, file, position and message.
pub fn gitlab(diagnostics: &[Diagnostic]) -> String {
    let issues: Vec<Issue<'_>> = diagnostics
        .iter()
        .map(|d| {
            let identity = format!(
                "{}\n{}\n{}:{}\n{}",
                d.code.as_str(),
                d.file,
                d.line(),
                d.column(),
                d.message
            );
            Issue {
                description: match &d.help {
                    Some(help) => format!("{} (help: {help})", d.message),
                    None => d.message.clone(),
                },
                check_name: d.code.as_str(),
                fingerprint: Fingerprint::of(identity.as_bytes()).to_string(),
                severity: match d.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                },
                location: Location {
                    path: &d.file,
                    lines: Lines { begin: d.line() },
                },
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&issues).expect("issues serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
