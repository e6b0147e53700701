//! `herald plan` and `herald show`: make a plan (or read a saved one) and print it as text,
//! JSON or Markdown.
//!
//! Outputs that could be left half-written by a failure mid-plan (the JSON document, the plan
//! file) go to a temporary file first and are copied or renamed only once the plan is whole.

use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::{Checked, Error, ExitStatus, Outcome, ProblemsAs, ProjectArgs, write_out};
use crate::diagnostic::Diagnostic;
use crate::output::diagnostics::{self, Style};
use crate::output::plan::{Redacting, human, markdown};
use crate::plan::engine::Failure;
use crate::plan::{Sink, Summary, Tee, file, json};
use crate::reads::EngatiReads;
use crate::state::Access;

/// Output formats of `plan` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Grouped by campaign, with previews and diffs; colored on a terminal.
    Human,
    /// The versioned JSON document with every action (docs/plan-format.md).
    Json,
    /// A pull-request comment: a summary table and one collapsible section per campaign.
    Markdown,
}

/// `herald plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The project and its settings.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Write the plan to FILE, for `herald show` and `herald apply FILE`; without FILE, to
    /// .herald/plans/ in the project (named for the environment and the plan's time).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub out: Option<Option<PathBuf>>,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    /// Exit 0 when apply would send nothing, 2 when it would send something, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan only this campaign; may be repeated.
    #[arg(long = "campaign", value_name = "NAME")]
    pub campaigns: Vec<String>,
    /// Mask phone numbers and recipients' fields in the output (not in --out), for public logs.
    #[arg(long)]
    pub redact: bool,
    /// Also append the plan as Markdown to the file `$GITHUB_STEP_SUMMARY` names (the job's
    /// summary page in GitHub Actions); nothing when it is not set. Honours --redact.
    #[arg(long)]
    pub github_summary: bool,
    /// Read Users API audiences from a built-in emulator on loopback instead of api.base_url
    /// (no key needed): try a project without touching Engati.
    #[arg(long)]
    pub emulator: bool,
    /// Allow an http:// api.base_url that is not loopback.
    #[arg(long)]
    pub insecure_http: bool,
    /// Plan as if it were this RFC 3339 time: what is due, and what templates see as `now`
    /// (for previews of schedules and reproducible output).
    #[arg(long, value_name = "TIME")]
    pub now: Option<Timestamp>,
}

/// `herald show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan file written by `herald plan --out`.
    #[arg(value_name = "PLANFILE")]
    pub file: PathBuf,
    /// How to print it.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    /// Mask phone numbers and recipients' fields.
    #[arg(long)]
    pub redact: bool,
}

/// One `herald plan`: what `plan` asks for, and what apply asks for when it plans first.
pub(super) struct Planning<'a> {
    pub project: &'a ProjectArgs,
    pub campaigns: &'a [String],
    pub out: Option<&'a Path>,
    pub format: PlanFormat,
    pub redact: bool,
    pub github_summary: bool,
    pub emulator: bool,
    pub insecure_http: bool,
    pub now: Option<Timestamp>,
    /// Say where the plan was saved and how to apply it (not when apply saved it itself).
    pub announce_out: bool,
}

/// Runs `herald plan`.
pub(super) fn plan_command(args: &PlanArgs, out: &mut dyn Write) -> Outcome {
    let planning = Planning {
        project: &args.project,
        campaigns: &args.campaigns,
        // A bare --out is the empty path: saved_plan names the file.
        out: args
            .out
            .as_ref()
            .map(|out| out.as_deref().unwrap_or(Path::new(""))),
        format: args.format,
        redact: args.redact,
        github_summary: args.github_summary,
        emulator: args.emulator,
        insecure_http: args.insecure_http,
        now: args.now,
        announce_out: true,
    };
    let planned = plan(&planning, out);
    if !args.detailed_exitcode {
        return planned.map(|p| p.status);
    }
    match planned {
        Ok(Planned {
            status: ExitStatus::Success,
            requests,
            ..
        }) if requests > 0 => Ok(ExitStatus::Changes),
        Ok(p) => Ok(p.status.beside_changes()),
        Err(e) => Err(e.beside_changes()),
    }
}

/// How a `herald plan` went.
pub(super) struct Planned {
    /// Success; Problems when the project has errors or the plan breaks a safety cap.
    pub status: ExitStatus,
    /// Requests apply would send.
    pub requests: u64,
    /// Safety caps the plan breaks (it is shown and saved all the same).
    pub breaches: usize,
}

impl Planned {
    fn not_made(status: ExitStatus) -> Planned {
        Planned {
            status,
            requests: 0,
            breaches: 0,
        }
    }
}

/// Makes and prints a plan.
pub(super) fn plan(how: &Planning<'_>, out: &mut dyn Write) -> Result<Planned, Error> {
    let checked = Checked::new(how.project)?;
    let (loaded, validated) = (&checked.loaded, &checked.validated);
    if validated.has_errors() {
        print_problems(out, &validated.diagnostics, how.format, how.redact)?;
        let status = match checked.usage_error() {
            true => ExitStatus::Usage,
            false => ExitStatus::Problems,
        };
        return Ok(Planned::not_made(status));
    }
    let catalog = &validated.catalog;
    let Some(settings) = &catalog.settings else {
        return Err(Error::new("herald.yaml could not be read"));
    };
    let env = how.project.env.as_deref();
    let mut api = settings.api_for(env);
    let mut reads = EngatiReads::new(&api, how.insecure_http);
    if how.emulator {
        api.base_url = reads.use_builtin_emulator().map_err(Error::new)?;
    }
    let store = super::state::open(&loaded.root, settings, env, Access::Read)?;
    let project = checked.project(&api, env);
    let now = super::command_time(how.now);
    let saved = saved_plan(how.out, &loaded.root, env, now)?;
    let options = crate::plan::Options {
        now,
        campaigns: how.campaigns,
        // Unknown deliveries are reconciled with the histories when this run can read them.
        reconcile: reads.has_key(),
    };
    let mut outputs = Outputs::new(how, saved.as_deref())?;
    let made = outputs.fill(how.redact, |sink| {
        crate::plan::make(&project, &options, &mut reads, store.as_ref(), sink)
    });
    reads.shut_down();
    let made = match made {
        Ok(made) => made,
        Err(Failure::Problems(problems)) => {
            print_problems(out, &problems, how.format, how.redact)?;
            return Ok(Planned::not_made(ExitStatus::Problems));
        }
        Err(Failure::State(e)) => return Err(e.into()),
        Err(Failure::Output(e)) => {
            return Err(Error::new(format_args!("cannot write the plan: {e}")));
        }
    };
    if !made.warnings.is_empty() {
        let warnings = if how.redact {
            diagnostics::redact(&made.warnings)
        } else {
            made.warnings.clone()
        };
        let text = diagnostics::human(&warnings, Style::detect_stderr());
        eprint!("{text}");
    }
    let breaches = outputs.summary.breaches().len();
    outputs.finish(how, saved.as_deref(), out)?;
    if let Some(path) = saved.as_deref()
        && how.format != PlanFormat::Json
        && how.announce_out
    {
        let force = if breaches > 0 { "--force " } else { "" };
        write_out(
            out,
            &format!(
                "\nSaved the plan to {}. Apply exactly this plan with `herald apply {force}{}`.\n",
                path.display(),
                path.display()
            ),
        )?;
    }
    Ok(Planned {
        status: match breaches {
            0 => ExitStatus::Success,
            _ => ExitStatus::Problems,
        },
        requests: made.totals.requests,
        breaches,
    })
}

/// Where a plan goes as it is made: the summary the views print, the JSON document (to a
/// temporary file, printed once whole) and the plan file (beside `--out`, renamed once
/// whole). A plan that fails half-way leaves neither behind.
struct Outputs {
    summary: Summary,
    json: Option<(
        tempfile::NamedTempFile,
        json::Writer<BufWriter<std::fs::File>>,
    )>,
    file: Option<(
        tempfile::NamedTempFile,
        file::Writer<BufWriter<std::fs::File>>,
    )>,
}

impl Outputs {
    fn new(how: &Planning<'_>, saved: Option<&Path>) -> Result<Outputs, Error> {
        let json = match how.format {
            PlanFormat::Json => {
                let temp = tempfile::NamedTempFile::new()
                    .map_err(|e| Error::new(format_args!("cannot create a temporary file: {e}")))?;
                crate::jinja::remove_on_stop(temp.path().to_path_buf());
                let file = temp
                    .reopen()
                    .map_err(|e| Error::new(format_args!("cannot write a temporary file: {e}")))?;
                Some((temp, json::Writer::new(BufWriter::new(file))))
            }
            _ => None,
        };
        let file = match saved {
            Some(path) => {
                let temp = temp_beside(path)?;
                // A plan half written beside --out holds phones and messages: never leave it.
                crate::jinja::remove_on_stop(temp.path().to_path_buf());
                let cannot = |e: std::io::Error| {
                    Error::new(format_args!("cannot write {}: {e}", path.display()))
                };
                let file = temp.reopen().map_err(cannot)?;
                Some((
                    temp,
                    file::Writer::new(BufWriter::new(file)).map_err(cannot)?,
                ))
            }
            None => None,
        };
        Ok(Outputs {
            summary: Summary::default(),
            json,
            file,
        })
    }

    /// Runs `make` with every output as one sink: what is shown is redacted under
    /// `--redact`, the plan file never is.
    fn fill<T>(&mut self, redact: bool, make: impl FnOnce(&mut dyn Sink) -> T) -> T {
        let mut shown: Vec<&mut dyn Sink> = vec![&mut self.summary];
        if let Some((_, w)) = self.json.as_mut() {
            shown.push(w);
        }
        let mut shown = Tee(shown);
        let mut redacting;
        let shown: &mut dyn Sink = if redact {
            redacting = Redacting::new(&mut shown);
            &mut redacting
        } else {
            &mut shown
        };
        let mut all: Vec<&mut dyn Sink> = vec![shown];
        if let Some((_, w)) = self.file.as_mut() {
            all.push(w);
        }
        make(&mut Tee(all))
    }

    /// Keeps the plan file and prints the plan.
    fn finish(
        self,
        how: &Planning<'_>,
        saved: Option<&Path>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        if let (Some((temp, writer)), Some(path)) = (self.file, saved) {
            // The plan ended, so the writer finished and flushed the file.
            if writer.into_inner().is_none() {
                return Err(Error::new(format_args!(
                    "cannot write {}: the plan did not end",
                    path.display()
                )));
            }
            crate::jinja::keep(temp.path());
            temp.persist(path).map_err(|e| {
                Error::new(format_args!("cannot write {}: {}", path.display(), e.error))
            })?;
        }
        match how.format {
            PlanFormat::Human => write_out(out, &human(&self.summary, Style::detect()))?,
            PlanFormat::Markdown => write_out(out, &markdown(&self.summary))?,
            PlanFormat::Json => {
                if let Some((temp, writer)) = self.json {
                    drop(writer);
                    let cannot =
                        |e: std::io::Error| Error::new(format_args!("cannot write output: {e}"));
                    let mut file = temp.reopen().map_err(|e| {
                        Error::new(format_args!("cannot read the temporary plan: {e}"))
                    })?;
                    std::io::copy(&mut file, out).map_err(cannot)?;
                    out.flush().map_err(cannot)?;
                }
            }
        }
        if how.github_summary
            && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY")
        {
            append_summary(Path::new(&path), &markdown(&self.summary))?;
        }
        Ok(())
    }
}

/// Runs `herald show`: the plan file streamed into the view, the JSON one through a
/// temporary file so that a plan found damaged half-way prints nothing.
pub(super) fn show_command(args: &ShowArgs, out: &mut dyn Write) -> Outcome {
    let file =
        std::fs::File::open(&args.file).map_err(|e| file::error::cannot_read(&args.file, &e))?;
    let mut summary = Summary::default();
    let mut json = match args.format {
        PlanFormat::Json => {
            let temp = tempfile::tempfile()
                .map_err(|e| Error::new(format_args!("cannot create a temporary file: {e}")))?;
            Some((temp.try_clone(), json::Writer::new(BufWriter::new(temp))))
        }
        _ => None,
    };
    {
        let mut sinks: Vec<&mut dyn Sink> = vec![&mut summary];
        if let Some((_, writer)) = json.as_mut() {
            sinks.push(writer);
        }
        let mut tee = Tee(sinks);
        let result = if args.redact {
            file::stream(file, &mut Redacting::new(&mut tee))
        } else {
            file::stream(file, &mut tee)
        };
        result.map_err(|e| match e {
            file::StreamError::Plan(e) => e.in_file(&args.file).into(),
            file::StreamError::Sink(e) => Error::new(format_args!("cannot show the plan: {e}")),
        })?;
    }
    match (args.format, json) {
        (PlanFormat::Human, _) => write_out(out, &human(&summary, Style::detect()))?,
        (PlanFormat::Markdown, _) => write_out(out, &markdown(&summary))?,
        (PlanFormat::Json, Some((copy, writer))) => {
            let cannot = |e: std::io::Error| Error::new(format_args!("cannot write output: {e}"));
            writer
                .into_inner()
                .into_inner()
                .map_err(|e| cannot(e.into_error()))?;
            let mut copy = copy.map_err(cannot)?;
            copy.seek(std::io::SeekFrom::Start(0)).map_err(cannot)?;
            std::io::copy(&mut copy, out).map_err(cannot)?;
            out.flush().map_err(cannot)?;
        }
        (PlanFormat::Json, None) => {}
    }
    Ok(ExitStatus::Success)
}

/// Where `--out` saves the plan: the path given, or, for a bare `--out`, a file of its own
/// under the project's `.herald/plans/` (git-ignored with the state), made if missing.
fn saved_plan(
    out: Option<&Path>,
    root: &Path,
    env: Option<&str>,
    now: Timestamp,
) -> Result<Option<PathBuf>, Error> {
    let Some(out) = out else {
        return Ok(None);
    };
    if !out.as_os_str().is_empty() {
        return Ok(Some(out.to_path_buf()));
    }
    let dir = root.join(".herald").join("plans");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::new(format_args!("cannot create {}: {e}", dir.display())))?;
    // Colons are not allowed in Windows file names, and sort the same as dashes here.
    let stamp = now.strftime("%Y-%m-%dT%H-%M-%SZ").to_string();
    let name = match env {
        Some(env) => format!("{env}-{stamp}.plan"),
        None => format!("{stamp}.plan"),
    };
    let path = dir.join(name);
    // Relative to where herald runs, as the user would type it.
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or(path);
    Ok(Some(shown))
}

/// A temporary file in the same directory as `path`, so the final rename is atomic.
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::with_help(
            format_args!(
                "cannot write {}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
            "create it first, or give --out a path in an existing directory",
        ));
    }
    // The temporary file's own name means nothing to the user: report the plan file's path
    // and the reason only.
    tempfile::Builder::new()
        .prefix(".herald-plan-")
        .tempfile_in(&dir)
        .map_err(|e| {
            Error::new(format_args!(
                "cannot write {}: {}",
                path.display(),
                e.kind()
            ))
        })
}

/// Appends `text` to the job summary file (GitHub Actions adds what every step appended).
pub(super) fn append_summary(path: &Path, text: &str) -> Result<(), Error> {
    let cannot =
        |e: std::io::Error| Error::new(format_args!("cannot append to {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(cannot)?;
    file.write_all(text.as_bytes()).map_err(cannot)
}

fn print_problems(
    out: &mut dyn Write,
    problems: &[Diagnostic],
    format: PlanFormat,
    redact: bool,
) -> Result<(), Error> {
    let how = match format {
        PlanFormat::Json => ProblemsAs::Json,
        _ => ProblemsAs::Human,
    };
    write_out(out, &super::problems_text(problems, how, redact))
}
