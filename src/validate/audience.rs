//! Audience checks: one source each, references that resolve, no include loops, E.164 phones in
//! inline lists and CSV files; and the fields each audience's recipients are known to carry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::csv_cells::MAX_CSV_ROW_ERRORS;
use super::{Catalog, Checker, Loc, phone};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::load::audience_file;
use crate::load::csv::Split;
use crate::load::display_name;
use crate::model::Audience;

/// What templates may read from `user` for an audience's recipients.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Fields {
    /// Unknown until plan time (Users API audiences): any field is accepted at validate time.
    Any,
    /// Fields known from inline users or a CSV header.
    Known {
        /// Fields every recipient has (always including `phone`).
        all: BTreeSet<String>,
        /// Fields only some recipients have.
        partial: BTreeSet<String>,
        /// A recipient to try templates on.
        sample: BTreeMap<String, Value>,
        /// Whether `sample` is a real recipient (the first listed) rather than placeholders:
        /// only then is a WhatsApp rule its rendered text breaks a real problem.
        exact: bool,
        /// Where the fields come from, for messages ("the columns of audiences/vip.csv").
        origin: String,
    },
}

impl Fields {
    fn phone_only(origin: String) -> Fields {
        Fields::Known {
            all: BTreeSet::from(["phone".to_owned()]),
            partial: BTreeSet::new(),
            sample: BTreeMap::from([("phone".to_owned(), Value::from("+919019486731"))]),
            exact: false,
            origin,
        }
    }

    /// The fields common to every recipient of both (a union of audiences).
    fn union(self, other: Fields) -> Fields {
        match (self, other) {
            (Fields::Any, _) | (_, Fields::Any) => Fields::Any,
            (
                Fields::Known {
                    all: a,
                    partial: pa,
                    sample,
                    exact,
                    origin: oa,
                },
                Fields::Known {
                    all: b,
                    partial: pb,
                    origin: ob,
                    ..
                },
            ) => {
                let all: BTreeSet<String> = a.intersection(&b).cloned().collect();
                let partial = a
                    .symmetric_difference(&b)
                    .chain(pa.iter())
                    .chain(pb.iter())
                    .filter(|f| !all.contains(*f))
                    .cloned()
                    .collect();
                Fields::Known {
                    all,
                    partial,
                    sample,
                    exact,
                    origin: format!("{oa} and {ob}"),
                }
            }
        }
    }
}

/// Checks every named audience and returns the fields of each.
pub(super) fn check(checker: &mut Checker<'_>, catalog: &Catalog) -> BTreeMap<String, Fields> {
    report_cycles(checker, catalog);
    let mut fields = BTreeMap::new();
    for name in catalog.audiences.keys() {
        resolve(checker, catalog, name, &mut fields, &mut Vec::new());
    }
    fields
}

fn resolve(
    checker: &mut Checker<'_>,
    catalog: &Catalog,
    name: &str,
    done: &mut BTreeMap<String, Fields>,
    visiting: &mut Vec<String>,
) -> Fields {
    if let Some(f) = done.get(name) {
        return f.clone();
    }
    let Some(item) = catalog.audiences.get(name) else {
        return Fields::Any;
    };
    if visiting.iter().any(|v| v == name) {
        return Fields::Any; // reported by report_cycles
    }
    visiting.push(name.to_owned());
    let result = check_audience(checker, catalog, &item.loc, "", &item.value, &mut |c, n| {
        resolve(c, catalog, n, done, visiting)
    });
    visiting.pop();
    done.insert(name.to_owned(), result.clone());
    result
}

/// Checks one audience (named, or inline in a campaign at `sub`) and returns its fields.
/// `included` resolves the fields of a named audience.
pub(super) fn check_audience(
    checker: &mut Checker<'_>,
    catalog: &Catalog,
    loc: &Loc,
    sub: &str,
    audience: &Audience,
    included: &mut dyn FnMut(&mut Checker<'_>, &str) -> Fields,
) -> Fields {
    let mut sources = Vec::new();
    if audience.users_api.is_some() {
        sources.push("users_api");
    }
    if audience.csv.is_some() {
        sources.push("csv");
    }
    if audience.users.is_some() {
        sources.push("users");
    }
    if audience.include.is_some() {
        sources.push("include");
    }
    if sources.len() != 1 {
        let message = if sources.is_empty() {
            "the audience has no source of recipients".to_owned()
        } else {
            format!("the audience has several sources: {}", sources.join(", "))
        };
        let d = checker
            .error(Code::AudienceSource, loc, sub, message)
            .help("give exactly one of `users_api`, `csv`, `users` or `include` (with `exclude` if needed); combine sources with `include`");
        checker.report(d);
    }
    for (list_name, list) in [
        ("include", &audience.include),
        ("exclude", &audience.exclude),
    ] {
        for (i, name) in list.iter().flatten().enumerate() {
            if !catalog.has("audiences", name) {
                let d = unknown_reference(
                    checker,
                    catalog.audiences.keys(),
                    "audience",
                    name,
                    loc,
                    &format!("{sub}/{list_name}/{i}"),
                );
                checker.report(d);
            }
        }
    }
    if let Some(users) = &audience.users {
        return inline_fields(checker, loc, sub, users);
    }
    if let Some(csv) = &audience.csv {
        return csv_fields(checker, &catalog.files, loc, &format!("{sub}/csv"), csv);
    }
    if audience.users_api.is_some() {
        return Fields::Any;
    }
    let mut result: Option<Fields> = None;
    for name in audience.include.iter().flatten() {
        if catalog.audiences.contains_key(name) {
            let f = included(checker, name);
            result = Some(match result {
                None => f,
                Some(r) => r.union(f),
            });
        }
    }
    result.unwrap_or(Fields::Any)
}

/// An "unknown name" error with a did-you-mean.
pub(super) fn unknown_reference<'a>(
    checker: &mut Checker<'_>,
    names: impl Iterator<Item = &'a String> + Clone,
    kind: &str,
    name: &str,
    loc: &Loc,
    sub: &str,
) -> Diagnostic {
    let key = (kind.to_owned(), name.to_owned());
    let help = match checker.reference_help.get(&key) {
        Some(help) => help.clone(),
        None => {
            let count = names.clone().count();
            let suggest = checker.suggestion_budget >= count;
            if suggest {
                checker.suggestion_budget -= count;
            }
            let help = reference_help(names, kind, name, suggest);
            checker.reference_help.insert(key, help.clone());
            help
        }
    };
    checker
        .error(
            Code::UnknownReference,
            loc,
            sub,
            format!("no {kind} named `{name}`"),
        )
        .label(format!("unknown {kind}"))
        .help(help)
}

/// Names listed in a help line before the rest are counted instead.
const LISTED_NAMES: usize = 10;

fn reference_help<'a>(
    names: impl Iterator<Item = &'a String> + Clone,
    kind: &str,
    name: &str,
    suggest: bool,
) -> String {
    if suggest && let Some(s) = did_you_mean(name, names.clone().map(String::as_str)) {
        return format!("did you mean `{s}`?");
    }
    let defined: Vec<&str> = names.map(String::as_str).collect();
    match defined.len() {
        0 => format!("no {kind}s are defined; add one under `{kind}s:`"),
        n if n <= LISTED_NAMES => format!("{kind}s defined: {}", defined.join(", ")),
        n => format!(
            "{kind}s defined: {} and {} more",
            defined[..LISTED_NAMES].join(", "),
            n - LISTED_NAMES
        ),
    }
}

fn inline_fields(
    checker: &mut Checker<'_>,
    loc: &Loc,
    sub: &str,
    users: &[crate::model::InlineUser],
) -> Fields {
    // Fields every user has, and fields seen at all: built from the first user's keys and
    // narrowed in place, so a long inline list allocates only for field names it has not seen.
    let mut all: BTreeSet<String> = users.first().map_or_else(BTreeSet::new, |first| {
        first
            .fields
            .keys()
            .cloned()
            .chain(["phone".to_owned()])
            .collect()
    });
    let mut union = all.clone();
    for (i, user) in users.iter().enumerate() {
        if let Err(e) = phone::check(&user.phone) {
            let d = checker
                .error(
                    Code::Phone,
                    loc,
                    &format!("{sub}/users/{i}/phone"),
                    format!("`{}` is not an E.164 phone number", user.phone),
                )
                .help(e.help)
                .private(format!(
                    "user {}: the phone is not an E.164 phone number",
                    i + 1
                ));
            checker.report(d);
        }
        if let Some(zone) = user.fields.get("timezone") {
            super::window::check_user_zone(
                checker,
                loc,
                &format!("{sub}/users/{i}/timezone"),
                zone,
            );
        }
        all.retain(|k| k == "phone" || user.fields.contains_key(k));
        for key in user.fields.keys() {
            if !union.contains(key) {
                union.insert(key.clone());
            }
        }
    }
    let Some(first) = users.first() else {
        return Fields::phone_only("the inline users".to_owned());
    };
    let mut sample: BTreeMap<String, Value> = first
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect();
    sample.insert("phone".to_owned(), Value::from(first.phone.clone()));
    Fields::Known {
        partial: union.difference(&all).cloned().collect(),
        all,
        sample,
        exact: true,
        origin: "the inline users".to_owned(),
    }
}

/// Opens the CSV file `csv` names (relative to the file that names it), with the name it
/// is reported under; `None` after reporting why it cannot be read.
fn open_csv(
    checker: &mut Checker<'_>,
    files: &crate::load::Confinement,
    loc: &Loc,
    sub: &str,
    csv: &str,
) -> Option<(String, audience_file::AudienceFile)> {
    let base = checker.files[loc.file]
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let path = base.join(csv);
    let name = normalize(&display_name(&checker.root, &path));
    match audience_file::open(files, &path) {
        Ok(file) => Some((name, file)),
        Err(e) => {
            let help = match &e {
                audience_file::AudienceError::Refused(crate::load::Refusal::Missing(_)) => format!(
                    "the path is relative to {}; check the file name",
                    checker.file_name(loc)
                ),
                _ => e.help(),
            };
            let d = checker
                .error(e.code(), loc, sub, e.message(&name))
                .help(help);
            checker.report(d);
            None
        }
    }
}

fn csv_fields(
    checker: &mut Checker<'_>,
    files: &crate::load::Confinement,
    loc: &Loc,
    sub: &str,
    csv: &str,
) -> Fields {
    let Some((name, mut file)) = open_csv(checker, files, loc, sub, csv) else {
        return Fields::Any;
    };
    let columns = file.columns.clone();
    let mut split = Split::new(file.size, crate::render::workers());
    let (rows, zones) = loop {
        let mut zones = super::window::RowZones::new(&columns, checker.windows);
        match super::csv_cells::read_rows(&name, file, &mut zones, split) {
            Some(rows) => break (rows, zones),
            // Cut inside a quoted field: read again on one thread.
            None => {
                let Some((_, again)) = open_csv(checker, files, loc, sub, csv) else {
                    return Fields::Any;
                };
                (file, split) = (again, Split::whole());
            }
        }
    };
    for d in rows.diagnostics {
        checker.report(d);
    }
    let bad_rows = rows.bad_phones;
    let mut sample: BTreeMap<String, Value> = rows
        .first
        .map(|first| {
            columns
                .iter()
                .zip(first)
                .map(|(c, v)| (c.clone(), Value::from(v)))
                .collect()
        })
        .unwrap_or_default();
    if let Some(d) = zones.more(&name) {
        checker.report(d);
    }
    if bad_rows > MAX_CSV_ROW_ERRORS {
        checker.report(
            Diagnostic::error(
                Code::Phone,
                name.clone(),
                format!(
                    "{name}: {} more rows with invalid phone numbers",
                    bad_rows - MAX_CSV_ROW_ERRORS
                ),
            )
            .help("fix the phone column; only the first rows are shown"),
        );
    }
    let all: BTreeSet<String> = columns.into_iter().collect();
    let exact = !sample.is_empty();
    if sample.is_empty() {
        sample = all
            .iter()
            .map(|c| (c.clone(), Value::from(format!("<{c}>"))))
            .collect();
    }
    Fields::Known {
        all,
        partial: BTreeSet::new(),
        sample,
        exact,
        origin: format!("the columns of {name}"),
    }
}

/// Removes `dir/../` pairs so paths read as users wrote them relative to the root.
fn normalize(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

fn report_cycles(checker: &mut Checker<'_>, catalog: &Catalog) {
    let edges = |name: &str| -> Vec<(String, String)> {
        catalog.audiences.get(name).map_or_else(Vec::new, |item| {
            let mut out = Vec::new();
            for (list, names) in [
                ("include", &item.value.include),
                ("exclude", &item.value.exclude),
            ] {
                for (i, n) in names.iter().flatten().enumerate() {
                    out.push((n.clone(), format!("/{list}/{i}")));
                }
            }
            out
        })
    };
    let mut reported: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in catalog.audiences.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack: Vec<(String, usize)> = vec![(start.clone(), 0)];
        let mut on_path: Vec<String> = vec![start.clone()];
        let mut seen: BTreeSet<String> = BTreeSet::new();
        while let Some((node, next)) = stack.last().cloned() {
            let out = edges(&node);
            if next >= out.len() {
                stack.pop();
                on_path.pop();
                continue;
            }
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            let (target, _) = &out[next];
            if target == start {
                let members: BTreeSet<String> = on_path.iter().cloned().collect();
                if reported.insert(members) {
                    let item = &catalog.audiences[start];
                    let first_edge = edges(start)
                        .into_iter()
                        .find(|(t, _)| on_path.get(1).unwrap_or(start) == t)
                        .map(|(_, p)| p)
                        .unwrap_or_default();
                    let mut path = on_path.clone();
                    path.push(start.clone());
                    let d = checker
                        .error(
                            Code::AudienceCycle,
                            &item.loc,
                            &first_edge,
                            format!("audience `{start}` includes itself: {}", path.join(" -> ")),
                        )
                        .help("audiences may include or exclude others only without a loop; remove one of these references");
                    checker.report(d);
                }
                continue;
            }
            if catalog.audiences.contains_key(target) && seen.insert(target.clone()) {
                stack.push((target.clone(), 0));
                on_path.push(target.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reference_help;

    #[test]
    fn reference_help_suggests_or_lists_a_few_names() {
        let names: Vec<String> = (0..12).map(|i| format!("audience_{i:02}")).collect();
        assert_eq!(
            reference_help(names.iter(), "audience", "audience_1", true),
            "did you mean `audience_01`?"
        );
        let listed = reference_help(names.iter(), "audience", "zzz", true);
        assert!(listed.ends_with("audience_09 and 2 more"), "{listed}");
        let unsuggested = reference_help(names.iter(), "audience", "audience_1", false);
        assert!(unsuggested.starts_with("audiences defined: audience_00,"));
        assert_eq!(
            reference_help([].iter(), "template", "x", true),
            "no templates are defined; add one under `templates:`"
        );
    }
}
