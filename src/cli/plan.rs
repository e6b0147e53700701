//! `herald plan` and `herald show`: make a plan (or read a saved one) and print it as text,
//! JSON or Markdown.
//!
//! Outputs that could be left half-written by a failure mid-plan (the JSON document, the plan
//! file) go to a temporary file first and are copied or renamed only once the plan is whole.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::reads::ApiReads;
use super::{Checked, ProblemsAs, ProjectArgs, write_out};
use crate::diagnostic::Diagnostic;
use crate::output::diagnostics::{self, Style};
use crate::output::plan::{Redacting, human, markdown};
use crate::plan::engine::{self, Failure, Input};
use crate::plan::{Sink, Summary, Tee, inputs, json};
use crate::reconcile::{self, History};

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
    /// Write the plan to FILE, for `herald show` and `herald apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
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
    /// Plan as of this RFC 3339 time instead of now (for reproducible output).
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<Timestamp>,
    /// `--out` is apply's own file, applied next: not announced.
    #[arg(skip)]
    pub for_apply: bool,
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

/// Runs `herald plan`; returns the exit code.
pub fn plan_command(args: &PlanArgs, out: &mut dyn Write) -> Result<u8, String> {
    let checked = Checked::new(&args.project)?;
    let (loaded, validated, vars) = (&checked.loaded, &checked.validated, &checked.vars);
    let root = &loaded.root;
    if validated.has_errors() {
        print_problems(out, &validated.diagnostics, args.format, args.redact)?;
        let usage = checked.usage_error() && !args.detailed_exitcode;
        return Ok(if usage { 2 } else { 1 });
    }
    let catalog = &validated.catalog;
    let Some(settings) = &catalog.settings else {
        return Err("herald.yaml could not be read".to_owned());
    };
    let mut api = settings.api_for(args.project.env.as_deref());
    let mut users = ApiReads::new(&api, args.insecure_http);
    if args.emulator {
        api.base_url = users.use_builtin_emulator()?;
    }

    let store = super::state::open_for_reading(root, settings, args.project.env.as_deref())?;
    let now = super::command_time(args.now);
    let inputs_hash = inputs::hash(
        loaded,
        catalog,
        &inputs::Options {
            environment: args.project.env.as_deref(),
            vars,
            campaigns: &args.campaigns,
        },
    );
    // Unknown deliveries are reconciled with the histories when this run can read them.
    let reading = users.has_key().then_some(&mut users as &mut dyn History);
    let decisions = reconcile::for_plan(
        store.as_ref(),
        reading,
        &settings.apply,
        catalog,
        now,
        &args.campaigns,
    )
    .map_err(|e| format!("{e}\nhelp: {}", e.help()))?;
    let input = Input {
        loaded,
        catalog,
        api: &api,
        now,
        environment: args.project.env.as_deref(),
        selection: &args.campaigns,
        inputs_hash,
        reconciled: decisions.as_ref(),
    };

    let mut summary = Summary::default();
    let mut json_temp = None;
    let mut plan_temp = None;
    let made = {
        let mut json_writer = match args.format {
            PlanFormat::Json => {
                let temp = tempfile::NamedTempFile::new()
                    .map_err(|e| format!("cannot create a temporary file: {e}"))?;
                crate::jinja::remove_on_stop(temp.path().to_path_buf());
                let writer = json::Writer::new(BufWriter::new(
                    temp.reopen()
                        .map_err(|e| format!("cannot write a temporary file: {e}"))?,
                ));
                json_temp = Some(temp);
                Some(writer)
            }
            _ => None,
        };
        let mut file_writer = match &args.out {
            Some(path) => {
                let temp = temp_beside(path)?;
                // A plan half written beside --out holds phones and messages: never leave it.
                crate::jinja::remove_on_stop(temp.path().to_path_buf());
                let writer = json::Writer::new(BufWriter::new(
                    temp.reopen()
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                ));
                plan_temp = Some(temp);
                Some(writer)
            }
            None => None,
        };
        let mut shown: Vec<&mut dyn Sink> = vec![&mut summary];
        if let Some(w) = json_writer.as_mut() {
            shown.push(w);
        }
        let mut shown_tee = Tee(shown);
        let mut redacting;
        let shown_sink: &mut dyn Sink = if args.redact {
            redacting = Redacting::new(&mut shown_tee);
            &mut redacting
        } else {
            &mut shown_tee
        };
        let mut all: Vec<&mut dyn Sink> = vec![shown_sink];
        if let Some(w) = file_writer.as_mut() {
            all.push(w);
        }
        engine::run(&input, &mut users, store.as_ref(), &mut Tee(all))
    };
    users.shut_down();
    let made = match made {
        Ok(made) => made,
        Err(Failure::Problems(problems)) => {
            print_problems(out, &problems, args.format, args.redact)?;
            return Ok(1);
        }
        Err(Failure::State(e)) => {
            return Err(format!("{e}\nhelp: {}", e.help()));
        }
        Err(Failure::Output(e)) => return Err(format!("cannot write the plan: {e}")),
    };
    if !made.warnings.is_empty() {
        let warnings = if args.redact {
            diagnostics::redact(&made.warnings)
        } else {
            made.warnings.clone()
        };
        let text = diagnostics::human(&warnings, Style::detect_stderr());
        eprint!("{text}");
    }
    if let (Some(temp), Some(path)) = (plan_temp, &args.out) {
        crate::jinja::keep(temp.path());
        temp.persist(path)
            .map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
    }
    match args.format {
        PlanFormat::Human => write_out(out, &human(&summary, Style::detect()))?,
        PlanFormat::Markdown => write_out(out, &markdown(&summary))?,
        PlanFormat::Json => {
            if let Some(temp) = json_temp {
                let mut file = temp
                    .reopen()
                    .map_err(|e| format!("cannot read the temporary plan: {e}"))?;
                std::io::copy(&mut file, out).map_err(|e| format!("cannot write output: {e}"))?;
                out.flush()
                    .map_err(|e| format!("cannot write output: {e}"))?;
            }
        }
    }
    if args.github_summary
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY")
    {
        append_summary(Path::new(&path), &markdown(&summary))?;
    }
    if let Some(path) = &args.out
        && args.format != PlanFormat::Json
        && !args.for_apply
    {
        write_out(
            out,
            &format!(
                "\nSaved the plan to {}. Apply exactly this plan with `herald apply {}`.\n",
                path.display(),
                path.display()
            ),
        )?;
    }
    Ok(if args.detailed_exitcode && made.totals.requests > 0 {
        2
    } else {
        0
    })
}

/// Runs `herald show`.
pub fn show_command(args: &ShowArgs, out: &mut dyn Write) -> Result<u8, String> {
    let file = std::fs::File::open(&args.file).map_err(|e| {
        let e = json::stream::cannot_read(&args.file, &e);
        format!("{}\nhelp: {}", e.message, e.help)
    })?;
    let mut summary = Summary::default();
    let mut buffer = Vec::new();
    {
        let mut writer = json::Writer::new(&mut buffer);
        let mut sinks: Vec<&mut dyn Sink> = vec![&mut summary];
        if args.format == PlanFormat::Json {
            sinks.push(&mut writer);
        }
        let mut tee = Tee(sinks);
        let result = if args.redact {
            json::stream(file, &mut Redacting::new(&mut tee))
        } else {
            json::stream(file, &mut tee)
        };
        result.map_err(|e| match e {
            json::StreamError::Plan(e) => {
                format!("{}: {}\nhelp: {}", args.file.display(), e.message, e.help)
            }
            json::StreamError::Sink(e) => format!("cannot show the plan: {e}"),
        })?;
    }
    match args.format {
        PlanFormat::Human => write_out(out, &human(&summary, Style::detect()))?,
        PlanFormat::Markdown => write_out(out, &markdown(&summary))?,
        PlanFormat::Json => write_out(out, &String::from_utf8_lossy(&buffer))?,
    }
    Ok(0)
}

/// A temporary file in the same directory as `path`, so the final rename is atomic.
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "cannot write {}: the directory {} does not exist\nhelp: create it first, or give --out a path in an existing directory",
            path.display(),
            dir.display()
        ));
    }
    // The temporary file's own name means nothing to the user: report the plan file's path
    // and the reason only.
    tempfile::Builder::new()
        .prefix(".herald-plan-")
        .tempfile_in(&dir)
        .map_err(|e| format!("cannot write {}: {}", path.display(), e.kind()))
}

/// Appends `text` to the job summary file (GitHub Actions adds what every step appended).
pub(super) fn append_summary(path: &Path, text: &str) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot append to {}: {e}", path.display());
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
) -> Result<(), String> {
    let how = match format {
        PlanFormat::Json => ProblemsAs::Json,
        _ => ProblemsAs::Human,
    };
    write_out(out, &super::problems_text(problems, how, redact))
}
