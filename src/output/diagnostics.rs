//! Diagnostics as human text (miette's graphical report, colored on a terminal) or as JSON.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity, SourceText};
use crate::load::node::{Pos, Span};

/// How human output is styled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Colors and Unicode box drawing, for terminals.
    Color,
    /// No escape codes, for logs, files and snapshots.
    Plain,
}

impl Style {
    /// Color when stdout is a terminal and `NO_COLOR` is not set (https://no-color.org).
    pub fn detect() -> Style {
        Style::for_stream(std::io::IsTerminal::is_terminal(&std::io::stdout()))
    }

    /// The style for stderr: the same rule, for warnings printed beside stdout's output.
    pub fn detect_stderr() -> Style {
        Style::for_stream(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }

    fn for_stream(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if !no_color && is_terminal {
            Style::Color
        } else {
            Style::Plain
        }
    }
}

/// One JSON diagnostic, the shape editors and CI annotations read.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    /// The file, relative to the project root.
    pub file: &'a str,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// `error` or `warning`.
    pub severity: Severity,
    /// Stable code, e.g. `schema::unknown-field`.
    pub code: &'static str,
    /// What is wrong.
    pub message: &'a str,
    /// How to fix it.
    pub help: Option<&'a str>,
}

/// Diagnostics as a pretty-printed JSON array.
pub fn json(diagnostics: &[Diagnostic]) -> String {
    let items: Vec<JsonDiagnostic<'_>> = diagnostics
        .iter()
        .map(|d| JsonDiagnostic {
            file: &d.file,
            line: d.line(),
            column: d.column(),
            severity: d.severity,
            code: d.code.as_str(),
            message: &d.message,
            help: d.help.as_deref(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).expect("diagnostics serialize");
    text.push('\n');
    text
}

/// Diagnostics fit for public logs (`--redact`): those that quote recipients' data get their
/// redacted message and lose their snippets; in every other text, snippets included, what
/// looks like a phone number is masked. The only redaction diagnostics need: every format
/// prints from these.
pub fn redact(diagnostics: &[Diagnostic]) -> Vec<Diagnostic> {
    use crate::output::plan::redact_text;
    // Many diagnostics share a file's text: each is masked once. Masking keeps every
    // character's place, so spans stay right.
    let mut masked: HashMap<*const SourceText, Arc<SourceText>> = HashMap::new();
    let mut mask = |source: &Arc<SourceText>| {
        masked
            .entry(Arc::as_ptr(source))
            .or_insert_with(|| {
                SourceText::new(Arc::from(redact_text(&source.text)), source.first_line)
            })
            .clone()
    };
    diagnostics
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if let Some(message) = d.redacted.take() {
                d.message = message;
                d.source = None;
                d.label = None;
                for related in &mut d.related {
                    related.source = None;
                }
            }
            d.message = redact_text(&d.message);
            d.help = d.help.as_deref().map(redact_text);
            d.label = d.label.as_deref().map(redact_text);
            d.source = d.source.as_ref().map(&mut mask);
            for related in &mut d.related {
                related.message = redact_text(&related.message);
                related.source = related.source.as_ref().map(&mut mask);
            }
            d
        })
        .collect()
}

/// Diagnostics as human text, followed by a one-line summary.
pub fn human(diagnostics: &[Diagnostic], style: Style) -> String {
    let theme = match style {
        Style::Color => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .without_syntax_highlighting();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report::new(diagnostic);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", diagnostic.file, diagnostic.message));
        }
        out.push('\n');
    }
    out.push_str(&summary(diagnostics));
    out.push('\n');
    out
}

/// "2 errors, 1 warning" (or "no problems").
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let count = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => "no problems found".to_owned(),
        (e, 0) => count(e, "error"),
        (0, w) => count(w, "warning"),
        (e, w) => format!("{}, {}", count(e, "error"), count(w, "warning")),
    }
}

/// A diagnostic adapted to miette.
struct Report {
    message: String,
    code: &'static str,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<Excerpt>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn new(d: &Diagnostic) -> Report {
        let located = d
            .span
            .map(|s| format!("{}:{}:{}", d.file, s.start.line, s.start.col + 1));
        // A snippet of a very long line helps nobody (and miette cannot draw columns past
        // 65,535): the position goes in the message instead.
        let source = d
            .source
            .as_ref()
            .filter(|source| d.span.is_none_or(|span| fits(source, span)));
        let message = match (&located, source) {
            // Without a snippet the position would not show; put it in the message.
            (Some(at), None) => format!("{at}: {}", d.message),
            // Whole-file messages often name the file already ("herald.yaml is empty").
            (None, _) if d.message.contains(d.file.as_str()) => d.message.clone(),
            (None, _) => format!("{}: {}", d.file, d.message),
            _ => d.message.clone(),
        };
        let (source, labels) = excerpt(&d.file, source, d.span, d.label.clone());
        Report {
            message,
            code: d.code.as_str(),
            severity: match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            help: d.help.clone(),
            source,
            labels,
            related: d
                .related
                .iter()
                .map(|r| {
                    let (source, labels) = excerpt(
                        &r.file,
                        r.source.as_ref().filter(|source| fits(source, r.span)),
                        Some(r.span),
                        Some(r.message.clone()),
                    );
                    Report {
                        message: r.message.clone(),
                        code: "",
                        severity: miette::Severity::Advice,
                        help: None,
                        source,
                        labels,
                        related: Vec::new(),
                    }
                })
                .collect(),
        }
    }
}

/// The longest line drawn in a snippet, in bytes.
const SNIPPET_LINE_BYTES: usize = 2_000;

/// Whether the line a span starts on is short enough to draw.
fn fits(source: &SourceText, span: Span) -> bool {
    let start = source.offset(Pos {
        line: span.start.line,
        col: 0,
    });
    let rest = &source.text[start..];
    rest.find('\n').unwrap_or(rest.len()) <= SNIPPET_LINE_BYTES
        && span.start.col <= SNIPPET_LINE_BYTES
}

fn excerpt(
    file: &str,
    source: Option<&Arc<SourceText>>,
    span: Option<Span>,
    label: Option<String>,
) -> (Option<Excerpt>, Vec<LabeledSpan>) {
    let (Some(source), Some(span)) = (source, span) else {
        return (None, Vec::new());
    };
    let start = source.offset(span.start);
    // Underline to the end of the node, but never past its first line.
    let line_end = source.text[start..]
        .find('\n')
        .map_or(source.text.len(), |i| start + i);
    let end = source.offset(span.end).clamp(start, line_end);
    let len = (end - start).max(usize::from(start < source.text.len()));
    let labels = vec![LabeledSpan::new_primary_with_span(
        label,
        SourceSpan::new(start.into(), len),
    )];
    (
        Some(Excerpt {
            name: file.to_owned(),
            source: source.clone(),
        }),
        labels,
    )
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.code.is_empty()).then(|| Box::new(self.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty()).then(|| Box::new(self.labels.iter().cloned()) as Box<_>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        (!self.related.is_empty())
            .then(|| Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)) as Box<_>)
    }
}

/// A file's text (or an excerpt starting at a later line) under the file's name.
struct Excerpt {
    name: String,
    source: Arc<SourceText>,
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.source
                .text
                .as_ref()
                .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.source.first_line - 1,
            inner.column(),
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code;
    use crate::load::node::Pos;

    #[test]
    fn redacted_snippets_mask_phones_and_keep_their_places() {
        let source = SourceText::new(
            Arc::from("users:\n  - {phone: \"+919019486731\", x: 1}\n"),
            1,
        );
        let at = Pos { line: 2, col: 30 };
        let d = Diagnostic::error(Code::SchemaType, "c.yaml", "`x` is not text")
            .at(Span { start: at, end: at }, Some(source));
        let text = human(&redact(&[d]), Style::Plain);
        assert!(text.contains("+91******6731"), "{text}");
        assert!(!text.contains("9019486731"), "{text}");
        assert!(text.contains("c.yaml:2:31"), "the place is kept: {text}");
    }
}
