//! The project's resources by kind and name, each with where it was defined.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Checker, schema};
use crate::diagnostic::{Code, Diagnostic};
use crate::load::node::{NodeKind, escape_token};
use crate::model::{Audience, Campaign, Project, Template};

/// Where a resource was defined: file index, document index and JSON pointer of its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// Index into the loaded resource files.
    pub file: usize,
    /// Index of the YAML document within the file.
    pub doc: usize,
    /// JSON pointer of the entry, e.g. `/campaigns/invoice-reminder`.
    pub pointer: String,
}

impl Loc {
    /// A diagnostic at `sub` (a JSON pointer below the item), for problems found after
    /// validation: while resolving audiences or rendering for a plan.
    pub fn diagnostic(
        &self,
        files: &[crate::load::SourceFile],
        severity: crate::diagnostic::Severity,
        code: Code,
        sub: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let Some(file) = files.get(self.file) else {
            return Diagnostic::error(code, "?", message);
        };
        let mut d = Diagnostic::error(code, &file.name, message);
        d.severity = severity;
        match file.documents().get(self.doc) {
            Some(doc) => d.at(
                doc.span_at(&format!("{}{sub}", self.pointer)),
                file.source.clone(),
            ),
            None => d,
        }
    }
}

impl Loc {
    /// Where `sub` (a JSON pointer below the item) is written: `file:line:column`.
    pub fn position(&self, files: &[crate::load::SourceFile], sub: &str) -> String {
        let Some(file) = files.get(self.file) else {
            return "?".to_owned();
        };
        match file.documents().get(self.doc) {
            Some(doc) => {
                let start = doc.span_at(&format!("{}{sub}", self.pointer)).start;
                format!("{}:{}:{}", file.name, start.line, start.col + 1)
            }
            None => file.name.clone(),
        }
    }
}

/// A named resource and where it came from.
#[derive(Debug, Clone)]
pub struct Item<T> {
    /// Its name (the key it is listed under).
    pub name: String,
    /// Its content.
    pub value: T,
    /// Where it was defined.
    pub loc: Loc,
}

/// Every resource of the project that passed the schema, by name.
#[derive(Debug, Default)]
pub struct Catalog {
    /// herald.yaml, when valid.
    pub settings: Option<Project>,
    /// Variables after environment overlay and overrides.
    pub vars: BTreeMap<String, Value>,
    /// Templates by name.
    pub templates: BTreeMap<String, Item<Template>>,
    /// Audiences by name.
    pub audiences: BTreeMap<String, Item<Audience>>,
    /// Campaigns by name.
    pub campaigns: BTreeMap<String, Item<Campaign>>,
    /// Names that exist but failed the schema: references to them are not reported as missing.
    pub broken: Vec<(String, String)>,
    /// Where the project's data files may be read from (`files:` of herald.yaml).
    pub files: crate::load::Confinement,
    /// The rate card `pricing:` names, when valid.
    pub pricing: Option<crate::pricing::RateCard>,
    /// `budget.max_per_apply`, when valid (it needs the rate card).
    pub budget: Option<crate::pricing::Money>,
}

impl Catalog {
    /// Whether `kind` (`templates`, `audiences`) has an entry `name`, valid or not.
    pub fn has(&self, kind: &str, name: &str) -> bool {
        let valid = match kind {
            "templates" => self.templates.contains_key(name),
            "audiences" => self.audiences.contains_key(name),
            _ => self.campaigns.contains_key(name),
        };
        valid || self.broken.iter().any(|(k, n)| k == kind && n == name)
    }
}

/// Reports an entry defined a second time, pointing at both definitions.
fn report_duplicate(
    checker: &mut Checker<'_>,
    doc: &crate::load::node::Node,
    first: &Loc,
    loc: &Loc,
    kind: &str,
    name: &str,
) {
    let singular = kind.trim_end_matches('s');
    let first_file = checker.file_name(first).to_owned();
    let key_span = doc
        .pointer(&format!("/{kind}"))
        .and_then(|n| n.entry(name))
        .map_or(doc.span, |e| e.key_span);
    let first_key_span = checker.files[first.file].documents()[first.doc]
        .pointer(&format!("/{kind}"))
        .and_then(|n| n.entry(name))
        .map_or(doc.span, |e| e.key_span);
    let mut related = checker.related(first, "", "first defined here");
    related.span = first_key_span;
    let diagnostic = checker
        .error_at(
            Code::DuplicateName,
            loc,
            key_span,
            format!("{singular} `{name}` is defined twice"),
        )
        .label("defined again here")
        .help(format!(
            "{singular} names are unique across the project; rename one of them or delete the \
             copy (the first is in {first_file})"
        ))
        .related(related);
    checker.report(diagnostic);
}

/// The entry at `pointer` as it can be deserialized: without the unknown fields the schema
/// found (dropping them leaves a value the types accept), or `None` when anything else in it
/// failed. Cloned only when fields must be dropped.
fn usable<'v>(
    value: &'v Value,
    failed: &[schema::FailedPath],
    pointer: &str,
    kind: &str,
) -> Option<std::borrow::Cow<'v, Value>> {
    let mut value = std::borrow::Cow::Borrowed(value);
    for f in failed {
        let inside = f.pointer.starts_with(&format!("{pointer}/"));
        if f.unknown_field && inside {
            remove(value.to_mut(), &f.pointer[pointer.len()..]);
        } else if inside
            || f.pointer.is_empty()
            || f.pointer == format!("/{kind}")
            || f.pointer == pointer
        {
            return None;
        }
    }
    Some(value)
}

/// Schema-checks every resource document and collects the entries, reporting duplicates.
pub(super) fn build(checker: &mut Checker<'_>) -> Catalog {
    let mut catalog = Catalog::default();
    let mut first_seen: BTreeMap<(String, String), Loc> = BTreeMap::new();
    for (file_index, file) in checker.files.iter().enumerate() {
        let Some(source) = file.source.clone() else {
            continue;
        };
        let non_empty: Vec<_> = file
            .documents()
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind != NodeKind::Null)
            .collect();
        if non_empty.is_empty() && !checker.diagnostics.iter().any(|d| d.file == file.name) {
            checker.report(
                Diagnostic::warning(
                    Code::FileEmpty,
                    &file.name,
                    format!("{} defines nothing", file.name),
                )
                .help("add `templates:`, `audiences:` or `campaigns:`, or delete the file"),
            );
        }
        for (doc_index, doc) in non_empty {
            let json = doc.to_json();
            let (problems, failed) =
                schema::check(schema::Kind::Resource, &file.name, &source, doc, &json);
            checker.diagnostics.extend(problems);
            let Value::Object(kinds) = &json else {
                continue;
            };
            for (kind, entries) in kinds {
                let Value::Object(entries) = entries else {
                    continue;
                };
                for (name, value) in entries {
                    let pointer = format!("/{kind}/{}", escape_token(name));
                    let loc = Loc {
                        file: file_index,
                        doc: doc_index,
                        pointer: pointer.clone(),
                    };
                    let key = (kind.clone(), name.clone());
                    if let Some(first) = first_seen.get(&key) {
                        report_duplicate(checker, doc, first, &loc, kind, name);
                        // References to a template or audience defined twice are ambiguous:
                        // check them against neither copy, or an error about the other copy
                        // would point at a definition the user is not looking at.
                        let removed = match kind.as_str() {
                            "templates" => catalog.templates.remove(name).is_some(),
                            "audiences" => catalog.audiences.remove(name).is_some(),
                            _ => false,
                        };
                        if removed {
                            catalog.broken.push(key);
                        }
                        continue;
                    }
                    first_seen.insert(key, loc.clone());
                    let Some(value) = usable(value, &failed, &pointer, kind) else {
                        catalog.broken.push((kind.clone(), name.clone()));
                        continue;
                    };
                    match kind.as_str() {
                        "templates" => insert(&mut catalog.templates, entry(name, &value, &loc)),
                        "audiences" => insert(&mut catalog.audiences, entry(name, &value, &loc)),
                        "campaigns" => insert(&mut catalog.campaigns, entry(name, &value, &loc)),
                        _ => {}
                    }
                }
            }
        }
    }
    catalog
}

fn entry<T: DeserializeOwned>(name: &str, value: &Value, loc: &Loc) -> Option<Item<T>> {
    // The schema is generated from these types, so a value that passed it deserializes.
    T::deserialize(value).ok().map(|value| Item {
        name: name.to_owned(),
        value,
        loc: loc.clone(),
    })
}

/// Removes the value at `pointer` (relative to `value`): an unknown field already reported.
fn remove(value: &mut Value, pointer: &str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.shift_remove(&key);
    }
}

fn insert<T>(map: &mut BTreeMap<String, Item<T>>, item: Option<Item<T>>) {
    if let Some(item) = item {
        map.insert(item.name.clone(), item);
    }
}
