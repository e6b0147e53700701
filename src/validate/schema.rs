//! Schema errors from the `jsonschema` crate, mapped back to YAML positions with a help line.

use std::sync::{Arc, OnceLock};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, SourceText, did_you_mean};
use crate::load::node::{Node, NodeKind, ScalarStyle, escape_token};
use crate::schema;

/// Which of the schemas a document is checked against.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// herald.yaml.
    Project,
    /// A resource file.
    Resource,
    /// A rate card (`pricing:` of herald.yaml).
    Pricing,
}

fn validator(kind: Kind) -> &'static Validator {
    static PROJECT: OnceLock<Validator> = OnceLock::new();
    static RESOURCE: OnceLock<Validator> = OnceLock::new();
    static PRICING: OnceLock<Validator> = OnceLock::new();
    let cell = match kind {
        Kind::Project => &PROJECT,
        Kind::Resource => &RESOURCE,
        Kind::Pricing => &PRICING,
    };
    cell.get_or_init(|| {
        jsonschema::options()
            .build(root(kind))
            .expect("the generated schema is valid JSON Schema")
    })
}

/// The schema path of the object holding the failing keyword (where its properties are).
fn object_path<'e>(error: &'e ValidationError<'_>) -> &'e str {
    error
        .schema_path()
        .as_str()
        .rsplit_once('/')
        .map_or("", |(p, _)| p)
}

fn root(kind: Kind) -> &'static Value {
    match kind {
        Kind::Project => schema::project_schema(),
        Kind::Resource => schema::resource_schema(),
        Kind::Pricing => schema::pricing_schema(),
    }
}

/// An instance path that failed the schema.
#[derive(Debug, Clone)]
pub(super) struct FailedPath {
    /// JSON pointer of the failing value.
    pub pointer: String,
    /// An unknown field: dropping it leaves a value the types accept, so the entry can still be
    /// checked semantically.
    pub unknown_field: bool,
}

/// Checks one document; returns its diagnostics and the instance paths that failed, so semantic
/// checks can skip the entries that did not deserialize.
pub(super) fn check(
    kind: Kind,
    file: &str,
    source: &Arc<SourceText>,
    doc: &Node,
    json: &Value,
) -> (Vec<Diagnostic>, Vec<FailedPath>) {
    let mut diagnostics = Vec::new();
    let mut failed = Vec::new();
    let mapper = Mapper {
        kind,
        file,
        source,
        doc,
    };
    for error in validator(kind).iter_errors(json) {
        mapper.map(&error, &mut diagnostics, &mut failed);
    }
    (diagnostics, failed)
}

struct Mapper<'a> {
    kind: Kind,
    file: &'a str,
    source: &'a Arc<SourceText>,
    doc: &'a Node,
}

impl Mapper<'_> {
    fn diagnostic(&self, code: Code, pointer: &str, message: String) -> Diagnostic {
        Diagnostic::error(code, self.file, message)
            .at(self.doc.span_at(pointer), Some(self.source.clone()))
    }

    /// Maps one schema error to diagnostics, recording the paths that failed.
    fn map(
        &self,
        error: &ValidationError<'_>,
        out: &mut Vec<Diagnostic>,
        failed: &mut Vec<FailedPath>,
    ) {
        let at = error.instance_path().as_str().to_owned();
        match error.kind() {
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                self.map_branches(error, &at, context, out, failed);
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let pointer = format!("{at}/{}", escape_token(name));
                    failed.push(FailedPath {
                        pointer,
                        unknown_field: true,
                    });
                    out.push(self.unknown_field(error, &at, name));
                }
            }
            _ => {
                failed.push(FailedPath {
                    pointer: at.clone(),
                    unknown_field: false,
                });
                out.push(self.bad_value(error, &at));
            }
        }
    }

    /// An `anyOf`/`oneOf` that failed: a documented enum (one `const` per branch), or the
    /// one branch that matches the value's shape, or a type mismatch with every branch.
    fn map_branches(
        &self,
        error: &ValidationError<'_>,
        at: &str,
        context: &[Vec<ValidationError<'static>>],
        out: &mut Vec<Diagnostic>,
        failed: &mut Vec<FailedPath>,
    ) {
        let what = describe_path(self.doc, at);
        let constants: Vec<&str> = context
            .iter()
            .filter_map(|branch| {
                branch.iter().find_map(|e| match e.kind() {
                    ValidationErrorKind::Constant { expected_value } => expected_value.as_str(),
                    _ => None,
                })
            })
            .collect();
        let failure = FailedPath {
            pointer: at.to_owned(),
            unknown_field: false,
        };
        if !constants.is_empty() && constants.len() == context.len() {
            failed.push(failure);
            out.push(self.enum_diagnostic(at, &what, &constants, error.instance()));
            return;
        }
        // An `Option<T>` or "name or inline" field: report the branch that matches the value's
        // shape, not the unhelpful "not valid under any of the schemas".
        let relevant: Vec<&Vec<ValidationError<'static>>> = context
            .iter()
            .filter(|branch| {
                !branch.iter().all(|e| {
                    e.instance_path().as_str() == at
                        && matches!(e.kind(), ValidationErrorKind::Type { .. })
                })
            })
            .collect();
        if let [branch] = relevant.as_slice() {
            for e in *branch {
                self.map(e, out, failed);
            }
            return;
        }
        let expected = one_of(
            context
                .iter()
                .flatten()
                .filter_map(|e| match e.kind() {
                    ValidationErrorKind::Type { kind } => Some(type_name(kind)),
                    _ => None,
                })
                .collect(),
        );
        failed.push(failure);
        out.push(
            self.diagnostic(Code::SchemaType, at, format!("{what} must be {expected}"))
                .help(self.field_help(at)),
        );
    }

    /// A field the schema does not allow at `at`, with a did-you-mean.
    fn unknown_field(&self, error: &ValidationError<'_>, at: &str, name: &str) -> Diagnostic {
        let object = object_path(error);
        let allowed = schema::property_names(root(self.kind), object);
        let span = self
            .doc
            .pointer(at)
            .and_then(|n| n.entry(name))
            .map_or_else(|| self.doc.span_at(at), |e| e.key_span);
        let help = match did_you_mean(name, allowed.iter().map(String::as_str)) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!("allowed fields here: {}", allowed.join(", ")),
        };
        Diagnostic::error(
            Code::SchemaUnknownField,
            self.file,
            format!("unknown field `{name}` in {}", describe_path(self.doc, at)),
        )
        .at(span, Some(self.source.clone()))
        .label("not a field herald knows")
        .help(help)
    }

    /// A value at `at` the schema refuses: a missing field, a wrong type, a value outside an
    /// enum or a pattern, too few items, or anything else (said as the validator says it).
    fn bad_value(&self, error: &ValidationError<'_>, at: &str) -> Diagnostic {
        let what = describe_path(self.doc, at);
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let described =
                    schema::property_description(root(self.kind), object_path(error), name);
                let help = described.map_or_else(
                    || format!("add `{name}:`"),
                    |d| {
                        format!(
                            "add `{name}:` ({})",
                            lowercase_first(d.trim_end_matches('.'))
                        )
                    },
                );
                self.diagnostic(
                    Code::SchemaRequired,
                    at,
                    format!("{what} is missing the required field `{name}`"),
                )
                .label(format!("`{name}` is missing here"))
                .help(help)
            }
            ValidationErrorKind::Type { kind } => {
                let node = self.doc.pointer(at);
                let found = node.map_or("nothing", |n| node_type(&n.kind));
                let expected = type_name(kind);
                let mut help = self.field_help(at);
                if expected == "a string"
                    && let Some(Node {
                        kind: NodeKind::Number(_) | NodeKind::Bool(_),
                        ..
                    }) = node
                {
                    help = format!(
                        "YAML reads this unquoted value as {found}; put it in quotes to make it text"
                    );
                }
                self.diagnostic(
                    Code::SchemaType,
                    at,
                    format!("{what} must be {expected}, found {found}"),
                )
                .help(help)
            }
            ValidationErrorKind::Enum { options } => {
                let options: Vec<&str> = options
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                self.enum_diagnostic(at, &what, &options, error.instance())
            }
            ValidationErrorKind::Pattern { .. } => self
                .diagnostic(
                    Code::SchemaValue,
                    at,
                    format!("{what} has an invalid value {}", short(error.instance())),
                )
                .help(self.field_help(at)),
            ValidationErrorKind::MinItems { limit } => {
                let items = if *limit == 1 { "item" } else { "items" };
                self.diagnostic(
                    Code::SchemaValue,
                    at,
                    format!("{what} needs at least {limit} {items}"),
                )
                .help(self.field_help(at))
            }
            _ => self
                .diagnostic(Code::SchemaValue, at, format!("{what}: {error}"))
                .help(self.field_help(at)),
        }
    }

    /// A value that is not one of `options`, with a did-you-mean.
    fn enum_diagnostic(
        &self,
        at: &str,
        what: &str,
        options: &[&str],
        instance: &Value,
    ) -> Diagnostic {
        let given = instance.as_str().unwrap_or_default();
        let help = match did_you_mean(given, options.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("use one of: {}", options.join(", ")),
        };
        self.diagnostic(
            Code::SchemaEnum,
            at,
            format!(
                "{what} must be one of {}, found {}",
                options.join(", "),
                short(instance)
            ),
        )
        .help(help)
    }

    /// The schema's description of the field at `pointer`, as a help line.
    fn field_help(&self, pointer: &str) -> String {
        let Some((parent, name)) = pointer.rsplit_once('/') else {
            return "see the schema for the expected form".to_owned();
        };
        let description = self
            .doc
            .pointer(parent)
            .and_then(|_| field_description(root(self.kind), parent, name));
        match description {
            Some(d) => format!("`{name}`: {d}"),
            None => "see schemas/ for the expected form".to_owned(),
        }
    }
}

/// The description of field `name` of the object at instance path `parent`, found by walking
/// the schema along the path.
fn field_description(root: &Value, parent: &str, name: &str) -> Option<String> {
    let mut schema = root;
    for token in parent.split('/').filter(|t| !t.is_empty()) {
        schema = step(root, schema, token)?;
    }
    let property = step(root, schema, name)?;
    property
        .get("description")
        .or_else(|| schema::resolve(root, property).get("description"))
        .and_then(Value::as_str)
        // Doc comments keep their line breaks in the schema; the help line wraps on its own.
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn step<'a>(root: &'a Value, schema: &'a Value, token: &str) -> Option<&'a Value> {
    let schema = schema::resolve(root, schema);
    if let Some(p) = schema.get("properties").and_then(|p| p.get(token)) {
        return Some(p);
    }
    if token.parse::<usize>().is_ok()
        && let Some(items) = schema.get("items")
    {
        return Some(items);
    }
    schema.get("additionalProperties").filter(|v| v.is_object())
}

/// "campaign `x`, field `send.template.body[2]`" style names for instance paths of `doc`.
pub(super) fn describe_path(doc: &Node, pointer: &str) -> String {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let indexes = list_indexes(doc, &tokens);
    let (head, skip) = match tokens.as_slice() {
        [] => return "the file".to_owned(),
        [kind, name, ..] if ["templates", "audiences", "campaigns"].contains(&kind.as_str()) => {
            let singular = kind.trim_end_matches('s');
            (Some(format!("{singular} `{name}`")), 2)
        }
        // herald.yaml and the top of resource files: the field's path says it all.
        _ => (None, 0),
    };
    let field = field_path(&tokens[skip..], &indexes[skip..]);
    match head {
        None => format!("`{field}`"),
        Some(head) if field.is_empty() => head,
        Some(head) => format!("`{field}` of {head}"),
    }
}

/// Which tokens index a list: a number is an index there, but a key in a mapping (a rate
/// card's `"91"`). Past the nodes the document has, a number is taken for an index.
fn list_indexes(doc: &Node, tokens: &[String]) -> Vec<bool> {
    let mut node = Some(doc);
    tokens
        .iter()
        .map(|token| {
            let index = match node.map(|n| &n.kind) {
                Some(NodeKind::Seq(_)) => true,
                Some(_) => false,
                None => token.parse::<usize>().is_ok(),
            };
            node = node.and_then(|n| match &n.kind {
                NodeKind::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                NodeKind::Map(_) => n.entry(token).map(|e| &e.value),
                _ => None,
            });
            index
        })
        .collect()
}

/// `send.template.body[2]` from its pointer tokens, and which of them index a list.
fn field_path(tokens: &[String], indexes: &[bool]) -> String {
    let mut field = String::new();
    for (token, &index) in tokens.iter().zip(indexes) {
        if index {
            field.push_str(&format!("[{token}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(token);
        }
    }
    field
}

fn type_name(kind: &TypeKind) -> String {
    let name = |t: &str| -> &'static str {
        match t {
            "string" => "a string",
            "integer" => "a whole number",
            "number" => "a number",
            "boolean" => "true or false",
            "array" => "a list",
            "object" => "a mapping",
            "null" => "empty",
            _ => "a value",
        }
    };
    match kind {
        TypeKind::Single(t) => name(&t.to_string()).to_owned(),
        TypeKind::Multiple(set) => one_of(
            set.iter()
                .map(|t| name(&t.to_string()).to_owned())
                .filter(|n| n != "empty")
                .collect(),
        ),
    }
}

/// "a string, a number or true or false": the alternatives once each, a whole number being a
/// number.
fn one_of(mut names: Vec<String>) -> String {
    if names.iter().any(|n| n == "a number") {
        names.retain(|n| n != "a whole number");
    }
    let mut unique: Vec<String> = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    match unique.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "a different value".to_owned(),
    }
}

fn node_type(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Null => "nothing",
        NodeKind::Bool(_) => "a boolean",
        NodeKind::Number(_) => "a number",
        NodeKind::String(_, ScalarStyle::Block) => "a text block",
        NodeKind::String(..) => "a string",
        NodeKind::Seq(_) => "a list",
        NodeKind::Map(_) => "a mapping",
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
