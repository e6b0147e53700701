//! Validation: schema checks on every document, then semantic checks across the project.
//!
//! Every problem in every file is reported in one run. A document entry (template, audience or
//! campaign) that fails the schema is left out of the semantic checks, so one typo does not
//! cascade into a page of follow-on errors.

mod audience;
mod campaign;
mod catalog;
mod csv_cells;
mod jinja;
pub mod late;
pub mod phone;
mod pricing;
mod safety;
mod schedule;
mod schema;
mod template;
mod window;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Related, SourceText};
use crate::load::node::Span;
use crate::load::{LoadedProject, SourceFile};
use crate::model::{Project, VarValue};

pub use catalog::{Catalog, Item, Loc};

/// Settings that change what validation accepts: the environment overlay and extra variables.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--env NAME`.
    pub env: Option<String>,
    /// `HERALD_VAR_*` and `--var NAME=VALUE`, later entries winning.
    pub vars: Vec<(String, String)>,
}

/// The outcome of validation: the typed project (as far as it could be built) and every problem.
#[derive(Debug)]
pub struct Validated {
    /// The project's typed contents.
    pub catalog: Catalog,
    /// Every problem, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Validated {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Shared access to the loaded files for the checks, and the place they report to.
pub(crate) struct Checker<'a> {
    pub files: &'a [SourceFile],
    pub root: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
    /// Help lines of unknown references by (kind, name): a name misspelt in thousands of
    /// campaigns is looked up among the defined names once, not once per campaign.
    pub reference_help: HashMap<(String, String), String>,
    /// Name comparisons left for did-you-mean searches. Each search compares against every
    /// defined name, so thousands of distinct typos among thousands of names would take minutes;
    /// past the budget, help lists names without a suggestion.
    pub suggestion_budget: usize,
    /// What trial renders may use in all.
    pub budget: crate::jinja::Budget,
    /// Whether running out of it has been reported.
    pub budget_spent_reported: bool,
    /// Whether the project has a send window anywhere: then a recipient's `timezone` that
    /// names no zone is an error, not a warning.
    pub windows: bool,
}

/// Name comparisons did-you-mean searches may make in one run (well under a second).
const SUGGESTION_BUDGET: usize = 1_000_000;

impl Checker<'_> {
    fn file(&self, loc: &Loc) -> &SourceFile {
        &self.files[loc.file]
    }

    /// The span of `sub` (a JSON pointer below the item) in the item's document.
    pub(crate) fn span(&self, loc: &Loc, sub: &str) -> Span {
        let file = self.file(loc);
        file.documents()[loc.doc].span_at(&format!("{}{sub}", loc.pointer))
    }

    /// The node at `sub` below the item, when it exists.
    pub(crate) fn node(&self, loc: &Loc, sub: &str) -> Option<&crate::load::node::Node> {
        self.file(loc).documents()[loc.doc].pointer(&format!("{}{sub}", loc.pointer))
    }

    fn source(&self, loc: &Loc) -> Option<Arc<SourceText>> {
        self.file(loc).source.clone()
    }

    /// The display name of the item's file.
    pub(crate) fn file_name(&self, loc: &Loc) -> &str {
        &self.file(loc).name
    }

    /// A new error at `sub` below the item; push it with [`Checker::report`].
    pub(crate) fn error(
        &self,
        code: Code,
        loc: &Loc,
        sub: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, self.file_name(loc), message)
            .at(self.span(loc, sub), self.source(loc))
    }

    /// A new error at an exact span of the item's file.
    pub(crate) fn error_at(
        &self,
        code: Code,
        loc: &Loc,
        span: Span,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, self.file_name(loc), message).at(span, self.source(loc))
    }

    /// A pointer to another place, for "defined here" notes.
    pub(crate) fn related(&self, loc: &Loc, sub: &str, message: impl Into<String>) -> Related {
        Related {
            file: self.file_name(loc).to_owned(),
            span: self.span(loc, sub),
            message: message.into(),
            source: self.source(loc),
        }
    }

    /// Records a problem.
    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}

/// Validates a loaded project.
pub fn validate(loaded: &LoadedProject, options: &Options) -> Validated {
    let mut diagnostics = loaded.diagnostics.clone();
    let settings = check_settings(&loaded.settings, &mut diagnostics);
    let vars = settings
        .as_ref()
        .map(|p| effective_vars(p, options, &loaded.settings.name, &mut diagnostics))
        .unwrap_or_default();

    let mut checker = Checker {
        files: &loaded.resources,
        root: loaded.root.clone(),
        diagnostics,
        reference_help: HashMap::new(),
        suggestion_budget: SUGGESTION_BUDGET,
        budget: crate::jinja::Budget::validate(),
        budget_spent_reported: false,
        windows: false,
    };
    let mut catalog = catalog::build(&mut checker);
    catalog.files = confinement(
        &loaded.root,
        &loaded.settings,
        settings.as_ref(),
        &mut checker.diagnostics,
    );
    if let Some(project) = &settings {
        let checked = pricing::check(
            &loaded.root,
            &loaded.settings,
            project,
            &catalog.files,
            &mut checker.diagnostics,
        );
        catalog.pricing = checked.card;
        catalog.budget = checked.budget;
    }
    catalog.settings = settings;
    catalog.vars = vars;
    checker.windows = window::uses_windows(&catalog);

    template::check(&mut checker, &catalog);
    let fields = audience::check(&mut checker, &catalog);
    campaign::check(&mut checker, &catalog, &fields);
    safety::check(&mut checker, &catalog, &loaded.settings);
    window::check(&mut checker, &catalog, &loaded.settings);

    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diagnostics.dedup_by(|a, b| a.sort_key() == b.sort_key());
    Validated {
        catalog,
        diagnostics,
    }
}

fn check_settings(file: &SourceFile, diagnostics: &mut Vec<Diagnostic>) -> Option<Project> {
    let source = file.source.clone()?;
    let doc = match file.documents() {
        [] => {
            diagnostics.push(
                Diagnostic::error(
                    Code::FileEmpty,
                    &file.name,
                    format!("{} is empty", file.name),
                )
                .help("it needs at least an `api:` section; `herald init` writes a complete one"),
            );
            return None;
        }
        [doc] => doc,
        [_, second, ..] => {
            diagnostics.push(
                Diagnostic::error(
                    Code::YamlUnsupported,
                    &file.name,
                    format!("{} holds more than one YAML document", file.name),
                )
                .at(second.span, Some(source))
                .help("keep a single document in herald.yaml; remove the `---` line"),
            );
            return None;
        }
    };
    let json = doc.to_json();
    let (problems, _) = schema::check(schema::Kind::Project, &file.name, &source, doc, &json);
    if !problems.is_empty() {
        diagnostics.extend(problems);
        return None;
    }
    match serde_json::from_value::<Project>(json) {
        Ok(project) => {
            check_shared_state(&project, &file.name, &source, doc, diagnostics);
            Some(project)
        }
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(Code::SchemaValue, &file.name, e.to_string())
                    .at(doc.span, Some(source)),
            );
            None
        }
    }
}

/// An environment that sends to another API target but records in the default state would
/// make its sends count as sent for the default target too: the next real apply would skip
/// people who never got a message. So state is keyed by environment wherever the target
/// differs: such an environment must name its own state (or name the default one, to share it
/// on purpose). An error rather than a default of its own, so that upgrading never silently
/// switches a project to an empty state whose plan would message everyone again.
fn check_shared_state(
    project: &Project,
    file: &str,
    source: &Arc<SourceText>,
    doc: &crate::load::node::Node,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for name in project.environments.keys() {
        let target =
            |api: &crate::model::Api| (api.base_url.clone(), api.customer_id, api.bot_key.clone());
        let moves_target = target(&project.api_for(Some(name))) != target(&project.api);
        let own_state = project
            .environments
            .get(name)
            .is_some_and(|env| env.state.is_some());
        if !moves_target || own_state {
            continue;
        }
        let pointer = crate::load::node::pointer(["environments", name.as_str(), "api"]);
        diagnostics.push(
            Diagnostic::error(
                Code::SharedState,
                file,
                format!(
                    "environment `{name}` sends to another API target but has no state of its own"
                ),
            )
            .at(doc.span_at(&pointer), Some(source.clone()))
            .help(format!(
                "its sends would count as sent for the default target, and the next real apply \
                 would skip people who never got a message; give it its own state, e.g. \
                 `state: {{path: .herald/{name}.db}}` (or `{{backend: postgres, schema: \
                 herald_{}}}`) under `environments.{name}`",
                name.chars()
                    .map(|c| if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    })
                    .collect::<String>()
            )),
        );
    }
}

/// Where the project may read data files: its root, and `files.allow`, with `files.max_bytes`
/// (entries that cannot be allowed are reported at herald.yaml and left out).
fn confinement(
    root: &std::path::Path,
    file: &SourceFile,
    project: Option<&Project>,
    diagnostics: &mut Vec<Diagnostic>,
) -> crate::load::Confinement {
    let Some(project) = project else {
        return crate::load::Confinement::project(root);
    };
    let at = |pointer: &str, message: String, help: String| {
        let mut d = Diagnostic::error(Code::ProjectFiles, &file.name, message).help(help);
        if let Some(doc) = file.documents().first() {
            d = d.at(doc.span_at(pointer), file.source.clone());
        }
        d
    };
    let max_bytes = match project
        .files
        .max_bytes
        .as_ref()
        .map(crate::model::ByteSize::bytes)
    {
        None => crate::load::confine::DEFAULT_MAX_BYTES,
        Some(Ok(n)) if n > 0 => n,
        Some(result) => {
            let message = match result {
                Err(e) => format!("it is not a size ({e})"),
                Ok(_) => "it must be more than 0".to_owned(),
            };
            diagnostics.push(at(
                "/files/max_bytes",
                format!("files.max_bytes: {message}"),
                "write a size such as 4GiB, 500MB or 1048576 (bytes)".to_owned(),
            ));
            crate::load::confine::DEFAULT_MAX_BYTES
        }
    };
    let (confinement, problems) =
        crate::load::Confinement::new(root, &project.files.allow, max_bytes);
    for p in problems {
        diagnostics.push(at(&format!("/files/allow/{}", p.index), p.message, p.help));
    }
    // SQLite state files are opened, and created, where herald.yaml says: keep that inside the
    // project's reach too (a FIFO or a device there would hang or feed the plan).
    let states = std::iter::once(("/state/path".to_owned(), &project.state)).chain(
        project.environments.iter().filter_map(|(name, env)| {
            let pointer =
                crate::load::node::pointer(["environments", name.as_str(), "state", "path"]);
            env.state.as_ref().map(|state| (pointer, state))
        }),
    );
    for (pointer, state) in states {
        let Some(path) = &state.path else {
            continue;
        };
        if let Err(refusal) = confinement.check_writable(&root.join(path)) {
            diagnostics.push(at(
                &pointer,
                format!("state.path: {}", refusal.message(&format!("`{path}`"))),
                "keep the state file inside the project, e.g. .herald/state.db (add .herald/ \
                 to .gitignore)"
                    .to_owned(),
            ));
        }
    }
    confinement
}

/// The variables templates see: file, then environment overlay, then `options.vars`.
fn effective_vars(
    project: &Project,
    options: &Options,
    file: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    let mut vars: BTreeMap<String, Value> = project
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), var_json(v)))
        .collect();
    if let Some(env) = &options.env {
        match project.environments.get(env) {
            Some(overlay) => {
                vars.extend(overlay.vars.iter().map(|(k, v)| (k.clone(), var_json(v))));
            }
            None => {
                let names: Vec<&str> = project.environments.keys().map(String::as_str).collect();
                let help = match crate::diagnostic::did_you_mean(env, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if names.is_empty() => {
                        "herald.yaml defines no environments; add one under `environments:`"
                            .to_owned()
                    }
                    None => format!("environments defined: {}", names.join(", ")),
                };
                diagnostics.push(
                    Diagnostic::error(
                        Code::Settings,
                        file,
                        format!("--env {env}: no such environment in {file}"),
                    )
                    .help(help),
                );
            }
        }
    }
    vars.extend(
        options
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
    );
    vars
}

fn var_json(value: &VarValue) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
