//! `herald diff --base REV`: the project at a git revision and in the working tree, both
//! rendered and compared message by message. It reads no state and needs no API key (Users API
//! audiences are read as empty, or from the built-in emulator), so it is the review step for
//! pull requests, forks' included.

use std::io::Write;
use std::path::Path;

use clap::{Args, ValueEnum};
use jiff::Timestamp;
use serde::Serialize;

use super::{Checked, Error, ExitStatus, Outcome, ProblemsAs, ProjectArgs, write_out};
use crate::diagnostic::{Code, Diagnostic};
use crate::diff::{self, Review, Side, Version, WithoutUsersApi};
use crate::load::git;
use crate::output::diagnostics::Style;
use crate::output::diff::{Labels, redact_review, review_human, review_markdown};
use crate::reads::EngatiReads;
use crate::render::UsersSource;

/// Output formats of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Changed campaigns with sample messages and diffs; colored on a terminal.
    Human,
    /// Every campaign compared, with the sample requests (for tools).
    Json,
    /// A pull-request comment: a table and one collapsible section per changed campaign.
    Markdown,
}

/// `herald diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The project and its settings (used for both versions).
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The git revision to compare with: a branch, tag or commit (`origin/main`, `HEAD~1`).
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// How to print the comparison.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
    /// Recipients shown per campaign for each kind of change.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub samples: usize,
    /// Mask phone numbers and recipients' fields, for public logs and comments.
    #[arg(long)]
    pub redact: bool,
    /// Exit 0 when no rendered message changed, 2 when one did, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also append the comparison as Markdown to the file `$GITHUB_STEP_SUMMARY` names.
    #[arg(long)]
    pub github_summary: bool,
    /// Read Users API audiences from the built-in emulator (no key) instead of leaving them
    /// empty.
    #[arg(long)]
    pub emulator: bool,
    /// Render as of this RFC 3339 time instead of now (for reproducible output).
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<Timestamp>,
}

/// The JSON document of `herald diff --format json`.
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    base: BaseRevision<'a>,
    #[serde(flatten)]
    review: &'a Review,
}

#[derive(Serialize)]
struct BaseRevision<'a> {
    revision: &'a str,
    commit: &'a str,
    project_existed: bool,
}

/// Runs `herald diff`.
pub(super) fn diff_command(args: &DiffArgs, out: &mut dyn Write) -> Outcome {
    let compared = diff(args, out);
    if !args.detailed_exitcode {
        return compared.map(|(status, _)| status);
    }
    match compared {
        Ok((ExitStatus::Success, true)) => Ok(ExitStatus::Changes),
        Ok((status, _)) => Ok(status.beside_changes()),
        Err(e) => Err(e.beside_changes()),
    }
}

/// Compares and prints; returns how it went and whether anything changed.
fn diff(args: &DiffArgs, out: &mut dyn Write) -> Result<(ExitStatus, bool), Error> {
    let head = Checked::new(&args.project)?;
    if head.validated.has_errors() {
        write_out(out, &problems_text(args, None, &head.validated.diagnostics))?;
        let status = match head.usage_error() {
            true => ExitStatus::Usage,
            false => ExitStatus::Problems,
        };
        return Ok((status, false));
    }
    let snapshot = git::snapshot(&head.loaded.root, &args.base)?;
    let labels = labels(&snapshot.commit, &args.base);
    let base = match snapshot.exists {
        true => match base_project(args, &snapshot.project, &labels, out)? {
            Some(base) => Some(base),
            None => return Ok((ExitStatus::Problems, false)),
        },
        false => None,
    };

    let env = args.project.env.as_deref();
    let head_api = head
        .validated
        .catalog
        .settings
        .as_ref()
        .ok_or_else(|| Error::new("herald.yaml could not be read"))?
        .api_for(env);
    let base_api = base
        .as_ref()
        .and_then(|b| b.validated.catalog.settings.as_ref())
        .map(|s| s.api_for(env));
    let head_side = Side {
        loaded: &head.loaded,
        catalog: &head.validated.catalog,
        api: &head_api,
    };
    let base_side = match (&base, &base_api) {
        (Some(b), Some(api)) => Some(Side {
            loaded: &b.loaded,
            catalog: &b.validated.catalog,
            api,
        }),
        _ => None,
    };
    let now = super::command_time(args.now);

    let mut offline = WithoutUsersApi::default();
    let mut emulated = None;
    let users: &mut dyn UsersSource = if args.emulator {
        let mut users = EngatiReads::new(&head_api, false);
        users.use_builtin_emulator().map_err(Error::new)?;
        emulated.insert(users)
    } else {
        &mut offline
    };
    let reviewed = diff::review(base_side.as_ref(), &head_side, now, args.samples, users);
    if let Some(users) = emulated.as_mut() {
        users.shut_down();
    }
    let mut reviewed = match reviewed {
        Ok(r) => r,
        Err(failure) => {
            let base = (failure.version == Version::Base).then_some(&labels);
            write_out(out, &problems_text(args, base, &failure.problems))?;
            return Ok((ExitStatus::Problems, false));
        }
    };
    reviewed.users_api_skipped = offline.asked.into_iter().collect();
    if args.redact {
        redact_review(&mut reviewed);
    }

    show(args, &snapshot, &reviewed, &labels, out)?;
    Ok((ExitStatus::Success, reviewed.has_changes()))
}

/// Prints the comparison as `--format` says (and to the job summary when asked).
fn show(
    args: &DiffArgs,
    snapshot: &git::Snapshot,
    reviewed: &Review,
    labels: &Labels,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let text = match args.format {
        DiffFormat::Human => review_human(reviewed, labels, Style::detect()),
        DiffFormat::Markdown => review_markdown(reviewed, labels),
        DiffFormat::Json => {
            let document = Document {
                format_version: 1,
                base: BaseRevision {
                    revision: &args.base,
                    commit: &snapshot.commit,
                    project_existed: snapshot.exists,
                },
                review: reviewed,
            };
            let mut text = serde_json::to_string_pretty(&document)
                .map_err(|e| Error::new(format_args!("cannot write the comparison: {e}")))?;
            text.push('\n');
            text
        }
    };
    write_out(out, &text)?;
    if args.github_summary
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY")
    {
        super::plan::append_summary(Path::new(&path), &review_markdown(reviewed, labels))?;
    }
    Ok(())
}

/// What the two sides are called: the base revision (its short commit, after the name given
/// when that is not the commit itself) and the working tree.
fn labels(commit: &str, base: &str) -> Labels {
    let short = commit.get(..7).unwrap_or(commit);
    Labels {
        before: if commit.starts_with(base) {
            short.to_owned()
        } else {
            format!("{base} ({short})")
        },
        after: "working tree".to_owned(),
    }
}

/// The project at the base revision, checked; `None` after printing the problems that keep
/// it from being compared.
fn base_project(
    args: &DiffArgs,
    dir: &Path,
    labels: &Labels,
    out: &mut dyn Write,
) -> Result<Option<Checked>, Error> {
    let base = Checked::at(dir, &args.project).map_err(|e| Error {
        message: format!("at {}: {}", labels.before, e.message),
        ..e
    })?;
    // An environment without its own state is an error to fix before applying, not one that
    // changes what is rendered: the pull request fixing it can still be compared.
    let blocking: Vec<Diagnostic> = base
        .validated
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && d.code != Code::SharedState)
        .cloned()
        .collect();
    if blocking.is_empty() {
        return Ok(Some(base));
    }
    write_out(out, &problems_text(args, Some(labels), &blocking))?;
    Ok(None)
}

/// Problems as `--format` says, phones masked with `--redact`. Those of the base revision
/// (`labels` given) are said apart, without annotations: they are not the reviewer's to fix
/// here, and their paths are the revision's.
fn problems_text(args: &DiffArgs, base: Option<&Labels>, problems: &[Diagnostic]) -> String {
    let how = match (args.format, base) {
        (DiffFormat::Json, _) => ProblemsAs::Json,
        (_, None) => ProblemsAs::Human,
        (_, Some(_)) => ProblemsAs::HumanOnly,
    };
    let text = super::problems_text(problems, how, args.redact);
    match base {
        Some(labels) if how != ProblemsAs::Json => format!(
            "The project at {} has problems, so it cannot be compared (file paths are as at \
             that revision):\n\n{text}",
            labels.before,
        ),
        _ => text,
    }
}
