//! Strings that only interpolate fields (`Dear {{ user.first_name | title }}`), told apart
//! from the rest without minijinja: such a string is valid, reads exactly its fields, and
//! renders to its text with each field's value (when that value is a string) through one of
//! the case filters `title`, `upper`, `lower`, as minijinja would. Rendering splices them for
//! every recipient; compiling and validating them need no minijinja parse.
//!
//! `tests/render_equivalence.rs` and the tests of `render::text` check the claims against
//! minijinja.

use std::borrow::Cow;

/// The filters a spliced field may go through: minijinja's own functions, or the standard
/// library calls minijinja's are (`upper` is `str::to_uppercase`), so the bytes are the same.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Filter {
    Plain,
    Title,
    Upper,
    Lower,
}

impl Filter {
    fn named(name: &str) -> Option<Filter> {
        match name {
            "title" => Some(Filter::Title),
            "upper" => Some(Filter::Upper),
            "lower" => Some(Filter::Lower),
            _ => None,
        }
    }

    pub(crate) fn push(self, out: &mut String, value: &str) {
        match self {
            Filter::Plain => out.push_str(value),
            Filter::Title => out.push_str(&minijinja::filters::title(Cow::Borrowed(value))),
            Filter::Upper => out.push_str(&value.to_uppercase()),
            Filter::Lower => out.push_str(&value.to_lowercase()),
        }
    }
}

/// A piece of a string that only interpolates fields: literal text, or `{{ ROOT.NAME }}`
/// (optionally through a [`Filter`]).
pub(crate) enum Part<'s> {
    /// Text as written.
    Literal(&'s str),
    /// `{{ ROOT.NAME | FILTER }}`.
    Field {
        /// `user`, `vars`, `campaign`, ...
        root: &'s str,
        /// The field.
        name: &'s str,
        /// What it goes through.
        filter: Filter,
    },
}

/// The parts of a string that only interpolates fields, or `None` when it does more.
pub(crate) fn interpolations(source: &str) -> Option<Vec<Part<'_>>> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let (root, name, filter) = simple_field(&after[..end])?;
        parts.push(Part::Field { root, name, filter });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest));
    }
    // minijinja prints a stray `}}` as text; rare enough to leave such strings to it.
    let stray = parts
        .iter()
        .any(|p| matches!(p, Part::Literal(s) if s.contains("}}")));
    (!stray).then_some(parts)
}

/// `(ROOT, NAME, filter)` when an expression is exactly ` ROOT.NAME ` or ` ROOT.NAME | FILTER `
/// (spaces allowed, no whitespace control) with a [`Filter`] spliced natively.
fn simple_field(expr: &str) -> Option<(&str, &str, Filter)> {
    if expr.starts_with('-') || expr.ends_with('-') || expr.starts_with('+') {
        return None;
    }
    let (field, filter) = match expr.split_once('|') {
        Some((field, filter)) => (field, Filter::named(filter.trim_matches([' ', '\t']))?),
        None => (expr, Filter::Plain),
    };
    let (root, name) = field.trim_matches([' ', '\t']).split_once('.')?;
    (identifier(root) && identifier(name)).then_some((root, name, filter))
}

/// Whether `name` is an ASCII identifier.
fn identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
pub(crate) mod strategy {
    //! Random strings for the proptests that compare splicing with minijinja.

    use proptest::prelude::*;

    /// Strings of one to five pieces: text matching the regex `literal`, or an interpolation
    /// of a field matching the regex `field` (`ROOT.NAME`), spaced with spaces and tabs and
    /// maybe through a case filter.
    pub(crate) fn interpolating(
        literal: &'static str,
        field: &'static str,
    ) -> impl Strategy<Value = String> {
        let interpolation = (
            "[ \t]{0,2}",
            field,
            "([ \t]{0,1}\\|[ \t]{0,1}(title|upper|lower))?",
            "[ \t]{0,2}",
        )
            .prop_map(|(a, field, filter, b)| format!("{{{{{a}{field}{filter}{b}}}}}"));
        proptest::collection::vec(prop_oneof![literal, interpolation], 1..6)
            .prop_map(|pieces| pieces.concat())
    }
}
