//! The command line: argument parsing and the commands, printing through `output`. Each
//! command returns an [`ExitStatus`] or an [`Error`]; [`run`] renders either, in one place.

mod apply;
mod diff;
mod exit;
mod grant;
mod plan;
mod progress;
mod reconcile;
mod schema;
mod send;
mod signals;
mod state;

pub use exit::{Error, ExitStatus, Outcome};

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::diagnostics::{self, Style};
use crate::words::count;
use crate::{init, load, validate};

/// herald: campaigns as code for the Engati chatbot platform.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// herald's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every file of a project and report all problems with file:line:column.
    Validate(ValidateArgs),
    /// Print the JSON schema of resource files, or write every schema to schemas/.
    Schema(SchemaArgs),
    /// Create a starter project that validates at once.
    Init(InitArgs),
    /// Show what apply would send: every campaign rendered and compared with state.
    Plan(plan::PlanArgs),
    /// Print a plan saved with `herald plan --out`.
    Show(plan::ShowArgs),
    /// Compare the rendered messages of the working tree with a git revision's (no state, no
    /// API key: safe for pull requests from forks).
    Diff(diff::DiffArgs),
    /// Send exactly what a saved plan says and record every outcome in state.
    Apply(apply::ApplyArgs),
    /// Send one test message: a campaign rendered for one of its recipients, to another phone
    /// (never recorded as a delivery of the campaign; logged with the applies).
    Send(send::SendArgs),
    /// Inspect what was sent; settle unknown deliveries (mark-sent, forget, reconcile); copy
    /// state to another backend (migrate); remove a dead apply's lock.
    State(state::StateArgs),
    /// Run a local Engati emulator (see docs/emulator.md).
    Emulator(EmulatorArgs),
}

/// Where the project is and which settings apply.
#[derive(Debug, Clone, Args)]
pub struct ProjectArgs {
    /// The project directory (default: the nearest directory upwards holding herald.yaml).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Apply the overlay `environments.NAME` of herald.yaml.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Set a variable (overrides herald.yaml and HERALD_VAR_NAME); may be repeated.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

/// `herald validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The project and its settings.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// `human` (default), `json` (an array of {file, line, column, severity, code, message,
    /// help}), `github` (workflow commands: annotations on the pull request) or `gitlab` (a
    /// Code Quality report). In GitHub Actions, `human` is followed by the annotations.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Human)]
    pub format: ValidateFormat,
    /// Hide recipients' data (phones, CSV rows, values) in the problems, for public logs.
    #[arg(long)]
    pub redact: bool,
    /// Check schedules as of this RFC 3339 time instead of now (for reproducible output).
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<jiff::Timestamp>,
}

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Text with source snippets; colored on a terminal unless NO_COLOR is set.
    Human,
    /// A JSON array for editors and CI.
    Json,
    /// GitHub Actions workflow commands (`::error file=...`).
    Github,
    /// A GitLab Code Quality report.
    Gitlab,
}

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text with source snippets; colored on a terminal unless NO_COLOR is set.
    Human,
    /// A JSON array for editors and CI.
    Json,
}

/// `herald schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the schema of herald.yaml instead of the resource-file schema.
    #[arg(long, conflicts_with_all = ["write", "check", "pricing"])]
    pub settings: bool,
    /// Print the schema of a rate card (`pricing:` of herald.yaml) instead.
    #[arg(long, conflicts_with_all = ["write", "check"])]
    pub pricing: bool,
    /// Write every schema to DIR/schemas/ (DIR: --dir, default the current directory).
    #[arg(long)]
    pub write: bool,
    /// Exit 1 when the files in DIR/schemas/ differ from what herald generates.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// The directory holding schemas/.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `herald init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project (default: the current directory).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `herald emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Where to listen (port 0: any free port; the URL is printed on stdout).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8787")]
    pub addr: std::net::SocketAddr,
    /// Keep the record of accepted requests in DIR/requests.jsonl, across restarts (default:
    /// in memory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Keys, customers, bots, templates and users, as YAML or JSON (default: the built-in seed,
    /// which serves the example project).
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Serve the project in DIR (default: the one around the current directory): its
    /// customer and bots, templates, flows and the recipients of its CSV and inline audiences,
    /// so it can be rehearsed as it is.
    #[arg(long, value_name = "DIR", num_args = 0..=1, conflicts_with = "seed")]
    pub seed_from_project: Option<Option<PathBuf>>,
    /// Fraction of requests answered HTTP 429 with Retry-After.
    #[arg(long = "fault-429", value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    pub rate_limit: f64,
    /// Fraction of requests answered HTTP 500.
    #[arg(long = "fault-500", value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    pub server_error: f64,
    /// Fraction of message sends answered envelope 1002 (outside the conversation window).
    #[arg(long = "fault-1002", value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    pub outside_window: f64,
    /// Milliseconds added to every Engati request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction of requests accepted and recorded whose response never comes.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    pub hang: f64,
    /// Fraction of requests accepted and recorded whose connection is then dropped.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    pub drop: f64,
    /// The Retry-After of 429 answers, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1)]
    pub retry_after: u64,
    /// Milliseconds after acceptance before a send's messages show in conversation history.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub trace_delay_ms: u64,
    /// Fraction of accepted sends whose messages never show in conversation history.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    pub trace_lost: f64,
    /// Seed the fault draws, for reproducible runs.
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// Answer reads (Users, Conversations) as a healthy server: faults hit only sends.
    #[arg(long)]
    pub faults_spare_reads: bool,
    /// Answer every conversation history read HTTP 500 (a history outage).
    #[arg(long)]
    pub fault_history_down: bool,
}

message_error! {
    /// A flag value that cannot be used, with why: clap prints it as the usage error.
    struct BadValue;
}

fn parse_fraction(text: &str) -> Result<f64, BadValue> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(BadValue(format!(
            "expected a fraction from 0 to 1, got `{text}`"
        ))),
    }
}

fn parse_var(text: &str) -> Result<(String, String), BadValue> {
    match text.split_once('=') {
        Some((name, value)) if is_identifier(name) => Ok((name.to_owned(), value.to_owned())),
        Some((name, _)) => Err(BadValue(format!(
            "`{name}` is not a variable name (letters, digits and _, not starting with a digit)"
        ))),
        None => Err(BadValue(format!("expected NAME=VALUE, got `{text}`"))),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Variables from `HERALD_VAR_NAME` environment variables, sorted by name.
fn env_vars() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter_map(|(k, v)| {
            k.strip_prefix("HERALD_VAR_")
                .filter(|n| is_identifier(n))
                .map(|n| (n.to_owned(), v))
        })
        .collect();
    vars.sort();
    vars
}

/// Runs herald with these arguments; what `main` calls.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are "errors" that print to stdout.
            let status = match e.use_stderr() {
                true => ExitStatus::Usage,
                false => ExitStatus::Success,
            };
            return status.into();
        }
    };
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Validate(args) => validate_command(&args, &mut stdout),
        Command::Schema(args) => schema::schema_command(&args, &mut stdout),
        Command::Init(args) => init_command(&args, &mut stdout),
        Command::Plan(args) => plan::plan_command(&args, &mut stdout),
        Command::Show(args) => plan::show_command(&args, &mut stdout),
        Command::Diff(args) => diff::diff_command(&args, &mut stdout),
        Command::Apply(args) => apply::apply_command(&args, &mut stdout),
        Command::Send(args) => send::send_command(&args, &mut stdout),
        Command::State(args) => state::state_command(&args, &mut stdout),
        Command::Emulator(args) => {
            // The emulator prints its URL itself and must not hold stdout's lock while serving.
            drop(stdout);
            return end(emulator_command(args));
        }
    };
    drop(stdout);
    end(result)
}

/// Renders a command's outcome: the one place errors are printed and exit codes chosen.
fn end(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(status) => status.into(),
        Err(error) => {
            // What the command printed comes before the error that ended it.
            let _ = std::io::stdout().flush();
            eprint!("{}", error.render());
            error.status.into()
        }
    }
}

fn cwd() -> Result<PathBuf, Error> {
    std::env::current_dir()
        .map_err(|e| Error::new(format_args!("cannot read the current directory: {e}")))
}

/// A project found, loaded and validated as `--project`, `--env` and `--var` say.
struct Checked {
    loaded: load::LoadedProject,
    validated: validate::Validated,
    /// `HERALD_VAR_*` then `--var`, as validation applied them.
    vars: Vec<(String, String)>,
}

impl Checked {
    fn new(project: &ProjectArgs) -> Result<Checked, Error> {
        let root = load::find_root(project.project.as_deref(), &cwd()?).map_err(Error::new)?;
        Checked::at(&root, project)
    }

    /// The project in `root`, with `--env` and `--var` as `project` says.
    fn at(root: &std::path::Path, project: &ProjectArgs) -> Result<Checked, Error> {
        let mut loaded = load::load(root).map_err(Error::new)?;
        let mut vars = env_vars();
        vars.extend(project.vars.iter().cloned());
        let options = validate::Options {
            env: project.env.clone(),
            vars: vars.clone(),
        };
        let validated = validate::validate(&loaded, &options);
        if !validated.has_errors() {
            loaded.release_trees();
        }
        Ok(Checked {
            loaded,
            validated,
            vars,
        })
    }

    /// herald.yaml's settings when the project has no errors; otherwise the error that sends
    /// the user to `herald validate` first, then `next` (`plan again`, say).
    fn ready(&self, next: &str) -> Result<&crate::model::Project, Error> {
        match &self.validated.catalog.settings {
            Some(settings) if !self.validated.has_errors() => Ok(settings),
            _ => Err(Error::with_help(
                "the project has errors",
                format_args!("run `herald validate` and fix them, then {next}"),
            )),
        }
    }

    /// What plans and sends are made from: the project with its `api` for `--env`.
    fn project<'a>(
        &'a self,
        api: &'a crate::model::Api,
        env: Option<&'a str>,
    ) -> crate::plan::Project<'a> {
        crate::plan::Project {
            loaded: &self.loaded,
            catalog: &self.validated.catalog,
            api,
            environment: env,
            vars: &self.vars,
        }
    }

    /// An `--env` that herald.yaml does not define is a bad flag value: a usage error.
    fn usage_error(&self) -> bool {
        self.validated.diagnostics.iter().any(|d| {
            d.code == crate::diagnostic::Code::Settings
                && d.severity == crate::diagnostic::Severity::Error
        })
    }
}

/// How `plan` and `diff` print problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProblemsAs {
    /// The JSON array of `validate --format json`.
    Json,
    /// Human text; in GitHub Actions followed by annotations on the changed files.
    Human,
    /// Human text without annotations: the files are not the working tree's.
    HumanOnly,
}

/// Problems sorted and printed as `how` says, redacted when `redact` (a recipient that fails
/// to render is named by phone).
pub(crate) fn problems_text(
    problems: &[crate::diagnostic::Diagnostic],
    how: ProblemsAs,
    redact: bool,
) -> String {
    let mut sorted = if redact {
        diagnostics::redact(problems)
    } else {
        problems.to_vec()
    };
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    match how {
        ProblemsAs::Json => diagnostics::json(&sorted),
        ProblemsAs::Human => human_problems(&sorted),
        ProblemsAs::HumanOnly => diagnostics::human(&sorted, Style::detect()),
    }
}

/// A command's time: `--now`, or now in whole seconds (it is shown, saved and seen by
/// templates as `now`).
pub(crate) fn command_time(now: Option<jiff::Timestamp>) -> jiff::Timestamp {
    now.unwrap_or_else(|| crate::clock::Clock::system().now_in_seconds())
}

/// Problems as human text; in GitHub Actions, followed by their annotations.
pub(crate) fn human_problems(problems: &[crate::diagnostic::Diagnostic]) -> String {
    let mut text = diagnostics::human(problems, Style::detect());
    if crate::output::ci::in_github_actions() {
        text.push_str(&crate::output::ci::github(problems));
    }
    text
}

fn validate_command(args: &ValidateArgs, out: &mut dyn Write) -> Outcome {
    let checked = Checked::new(&args.project)?;
    let (loaded, validated) = (&checked.loaded, &checked.validated);
    let mut all = validated.diagnostics.clone();
    all.extend(late_campaigns(
        &checked,
        args.project.env.as_deref(),
        args.now,
    ));
    all.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let has_errors = all.iter().any(crate::diagnostic::Diagnostic::is_error);
    let redacted;
    let problems = if args.redact {
        redacted = diagnostics::redact(&all);
        &redacted
    } else {
        &all
    };
    let text = match args.format {
        ValidateFormat::Json => diagnostics::json(problems),
        ValidateFormat::Github => crate::output::ci::github(problems),
        ValidateFormat::Gitlab => crate::output::ci::gitlab(problems),
        ValidateFormat::Human if problems.is_empty() => {
            let c = &validated.catalog;
            format!(
                "valid: {}, {}, {}, {}\n",
                count(loaded.resources.len() + 1, "file"),
                count(c.templates.len(), "template"),
                count(c.audiences.len(), "audience"),
                count(c.campaigns.len(), "campaign"),
            )
        }
        ValidateFormat::Human => human_problems(problems),
    };
    write_out(out, &text)?;
    Ok(if checked.usage_error() {
        ExitStatus::Usage
    } else if has_errors {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}

/// Late one-off campaigns ([`crate::validate::late`]), judged with the state when it can be
/// read (a project never applied has an empty one), else reported as warnings.
fn late_campaigns(
    checked: &Checked,
    env: Option<&str>,
    now: Option<jiff::Timestamp>,
) -> Vec<crate::diagnostic::Diagnostic> {
    use crate::validate::late::{Sent, check};
    let catalog = &checked.validated.catalog;
    let Some(settings) = &catalog.settings else {
        return Vec::new();
    };
    let files = &checked.loaded.resources;
    let now = command_time(now);
    let totals = state::open(
        &checked.loaded.root,
        settings,
        env,
        crate::state::Access::Read,
    )
    .and_then(|store| Ok(store.campaigns()?));
    match totals {
        Ok(totals) => {
            let sent: std::collections::BTreeSet<&str> = totals
                .iter()
                .filter(|t| t.sent + t.unknown > 0)
                .map(|t| t.campaign.as_str())
                .collect();
            let any = |item: &crate::validate::Item<crate::model::Campaign>| {
                std::iter::once(&item.name)
                    .chain(&item.value.previously)
                    .any(|name| sent.contains(name.as_str()))
            };
            check(files, catalog, now, &Sent::Known(&any))
        }
        Err(e) => check(files, catalog, now, &Sent::Unknown(&e.message)),
    }
}

fn init_command(args: &InitArgs, out: &mut dyn Write) -> Outcome {
    let created = init::create(Path::new(&args.dir)).map_err(Error::new)?;
    for path in &created {
        write_out(out, &format!("created {}\n", path.display()))?;
    }
    write_out(
        out,
        &format!("\nnext: cd {} && herald validate\n", args.dir.display()),
    )?;
    Ok(ExitStatus::Success)
}

/// The seed that serves the project in `dir` (or around the current directory).
fn project_seed(dir: Option<&std::path::Path>) -> Result<crate::emulator::Seed, Error> {
    let root = load::find_root(dir, &cwd()?).map_err(Error::new)?;
    let loaded = load::load(&root).map_err(Error::new)?;
    let validated = validate::validate(&loaded, &validate::Options::default());
    if validated.has_errors() {
        return Err(Error::with_help(
            format_args!("the project in {} has errors", root.display()),
            "run `herald validate` there and fix them, then start the emulator again",
        ));
    }
    let seed = crate::emulator::Seed::from_project(&loaded, &validated.catalog);
    seed.check().map_err(Error::new)?;
    Ok(seed)
}

fn emulator_command(args: EmulatorArgs) -> Outcome {
    use crate::emulator;
    let seed = match (&args.seed, &args.seed_from_project) {
        (Some(path), _) => emulator::Seed::from_file(path).map_err(Error::new)?,
        (None, Some(dir)) => project_seed(dir.as_deref())?,
        (None, None) => emulator::Seed::builtin(),
    };
    let config = emulator::Config {
        addr: args.addr,
        data_dir: args.data,
        seed,
        faults: emulator::Faults {
            rate_limit: args.rate_limit,
            server_error: args.server_error,
            outside_window: args.outside_window,
            latency_ms: args.latency_ms,
            hang: args.hang,
            drop_after_processing: args.drop,
            trace_delay_ms: args.trace_delay_ms,
            trace_lost: args.trace_lost,
            retry_after_secs: args.retry_after,
            seed: args.fault_seed,
            spare_reads: args.faults_spare_reads,
            history_down: args.fault_history_down,
        },
    };
    // Logs go to stderr, one line per request at info; RUST_LOG overrides the level.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let color = Style::detect_stderr() == Style::Color;
    let (writer, log) = emulator::log::buffered_stderr();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(color)
        .try_init();
    // Only this command needs a runtime; the others stay synchronous.
    let runtime = runtime(None)?;
    let result = runtime.block_on(emulator::run_until_signal(config));
    log.flush();
    result.map_err(Error::new)?;
    Ok(ExitStatus::Success)
}

/// The async runtime of a command that needs one: `workers` threads (default one per core).
fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime, Error> {
    crate::engati::runtime(workers)
        .map_err(|e| Error::new(format_args!("cannot start the async runtime: {e}")))
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`herald schema | head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::new(format_args!("cannot write output: {e}"))),
    }
}
