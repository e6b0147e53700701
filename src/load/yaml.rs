//! YAML text to [`Node`] trees, with positions, guarded against hostile input.
//!
//! Built on `saphyr-parser`'s event stream rather than a serde deserializer because validation
//! needs the position of every node, not just of the first error. Scalars are resolved by the
//! YAML 1.2 core schema (so `on` and `no` stay strings, unlike YAML 1.1). Aliases are expanded
//! under a budget of nodes and text, so a "billion laughs" document, or a few hundred aliases of
//! one long string, fails fast instead of eating memory.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle as YamlStyle, Tag};
use serde_json::Number;

use crate::diagnostic::{Code, Diagnostic, Related, SourceText};
use crate::load::node::{Entry, Node, NodeKind, Pos, ScalarStyle, Span};

/// How many nodes aliases may add to one file, counting 64 bytes of text as a node
/// ([`Node::weight`]): 100,000 nodes or about 6 MiB of text. Real campaign files use a handful.
pub const ALIAS_NODE_BUDGET: usize = 100_000;
/// How deep collections may nest; real campaign files nest fewer than ten levels.
pub const MAX_DEPTH: usize = 64;

/// Parses every document of a file. Syntax errors stop parsing; duplicate keys do not.
pub fn parse(file: &str, source: &Arc<SourceText>) -> (Vec<Node>, Vec<Diagnostic>) {
    let mut builder = Builder {
        file,
        source,
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        documents: Vec::new(),
        diagnostics: Vec::new(),
    };
    match builder.run() {
        Ok(()) => (builder.documents, builder.diagnostics),
        Err(fatal) => {
            builder.diagnostics.push(*fatal);
            (Vec::new(), builder.diagnostics)
        }
    }
}

fn pos(marker: &Marker) -> Pos {
    Pos {
        line: marker.line(),
        col: marker.col(),
    }
}

fn span(s: &saphyr_parser::Span) -> Span {
    Span {
        start: pos(&s.start),
        end: pos(&s.end),
    }
}

enum Frame {
    Seq {
        start: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        seen: HashSet<String>,
        key: Option<(String, Span)>,
    },
}

struct Builder<'a> {
    file: &'a str,
    source: &'a Arc<SourceText>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
    documents: Vec<Node>,
    diagnostics: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn error(&self, code: Code, at: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, self.file, message).at(at, Some(self.source.clone()))
    }

    // Long because it is the one loop over the parser's events, with a short arm per event
    // kind; the state it threads (the open nodes, anchors, the previous key) would have to be
    // passed around whole if the arms were functions.
    fn run(&mut self) -> Result<(), Box<Diagnostic>> {
        let text = self.source.text.clone();
        for event in Parser::new_from_str(&text) {
            let (event, raw_span) = event.map_err(|e| {
                let at = self.before_trailing_space(pos(e.marker()));
                let mut d = self
                    .error(
                        Code::YamlSyntax,
                        Span { start: at, end: at },
                        format!("invalid YAML: {}", e.info()),
                    )
                    .help(syntax_help(e.info()));
                if let Some(opened) = self.unclosed_bracket(e.info()) {
                    d = d
                        .help(format!(
                            "check the {} opened on line {}: items are separated by `,` and it \
                             ends with `{}`",
                            if opened.1 == '[' { "list" } else { "mapping" },
                            opened.0.span.start.line,
                            if opened.1 == '[' { ']' } else { '}' },
                        ))
                        .related(opened.0);
                }
                Box::new(d)
            })?;
            let at = span(&raw_span);
            match event {
                Event::Scalar(value, style, anchor, tag) => {
                    let node = self.scalar(&value, style, tag.as_deref(), at)?;
                    self.finish(node, anchor)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.check_tag(tag.as_deref(), at)?;
                    self.open(
                        Frame::Seq {
                            start: at.start,
                            anchor,
                            items: Vec::new(),
                        },
                        at,
                    )?;
                }
                Event::MappingStart(anchor, tag) => {
                    self.check_tag(tag.as_deref(), at)?;
                    self.open(
                        Frame::Map {
                            start: at.start,
                            anchor,
                            entries: Vec::new(),
                            seen: HashSet::new(),
                            key: None,
                        },
                        at,
                    )?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    // saphyr balances collections; a stray end is a syntax error, not a panic.
                    let Some(frame) = self.stack.pop() else {
                        return Err(Box::new(self.error(
                            Code::YamlSyntax,
                            at,
                            "a collection ends that never started".to_owned(),
                        )));
                    };
                    let (node, anchor) = match frame {
                        Frame::Seq {
                            start,
                            anchor,
                            mut items,
                        } => (
                            Node {
                                span: Span { start, end: at.end },
                                kind: NodeKind::Seq({
                                    // Trees are kept for the whole run, for positions in
                                    // messages: no room to grow is kept with them.
                                    items.shrink_to_fit();
                                    items
                                }),
                            },
                            anchor,
                        ),
                        Frame::Map {
                            start,
                            anchor,
                            mut entries,
                            ..
                        } => (
                            Node {
                                span: Span { start, end: at.end },
                                kind: NodeKind::Map({
                                    entries.shrink_to_fit();
                                    entries
                                }),
                            },
                            anchor,
                        ),
                    };
                    self.finish(node, anchor)?;
                }
                Event::Alias(id) => {
                    let Some((node, size)) = self.anchors.get(&id) else {
                        return Err(Box::new(self.error(
                            Code::YamlSyntax,
                            at,
                            "alias to an unknown anchor",
                        )));
                    };
                    self.alias_nodes += size;
                    if self.alias_nodes > ALIAS_NODE_BUDGET {
                        return Err(Box::new(self
                            .error(
                                Code::YamlAliasLimit,
                                at,
                                format!(
                                    "aliases in this file expand to more than {ALIAS_NODE_BUDGET} nodes (a node being also 64 bytes of text)"
                                ),
                            )
                            .label("this alias crosses the limit")
                            .help(
                                "this looks like a \"billion laughs\" document; write the values \
                                 out or use fewer nested aliases",
                            )));
                    }
                    let mut node = node.clone();
                    node.span = at;
                    self.finish(node, 0)?;
                }
                Event::StreamStart
                | Event::StreamEnd
                | Event::DocumentStart(_)
                | Event::DocumentEnd
                | Event::Nothing => {}
            }
        }
        Ok(())
    }

    /// For an error inside a `[...]` or `{...}` (often one never closed, found only at the end of
    /// the file), where that bracket was opened.
    fn unclosed_bracket(&self, info: &str) -> Option<(Related, char)> {
        let bracket = if info.contains("flow sequence") {
            '['
        } else if info.contains("flow mapping") {
            '{'
        } else {
            return None;
        };
        let start = self.stack.iter().rev().find_map(|frame| {
            let (Frame::Seq { start, .. } | Frame::Map { start, .. }) = frame;
            let offset = self.source.offset(*start);
            self.source.text[offset..]
                .starts_with(bracket)
                .then_some(*start)
        })?;
        let end = Pos {
            line: start.line,
            col: start.col + 1,
        };
        let related = Related {
            file: self.file.to_owned(),
            span: Span { start, end },
            message: format!("the `{bracket}` opened here"),
            source: Some(self.source.clone()),
        };
        Some((related, bracket))
    }

    /// An error found only at the end of the file is shown after the last text, not on the empty
    /// line after it (where the snippet would show nothing).
    fn before_trailing_space(&self, at: Pos) -> Pos {
        let text = &self.source.text;
        let content = text.trim_end();
        let lines = text.matches('\n').count() + 1;
        // The end of the input may be reported on a line after the last one.
        if at.line <= lines && self.source.offset(at) <= content.len() {
            return at;
        }
        let line_start = content.rfind('\n').map_or(0, |i| i + 1);
        Pos {
            line: content.matches('\n').count() + 1,
            col: content[line_start..].chars().count(),
        }
    }

    fn open(&mut self, frame: Frame, at: Span) -> Result<(), Box<Diagnostic>> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Box::new(
                self.error(
                    Code::YamlUnsupported,
                    at,
                    format!("collections nest more than {MAX_DEPTH} levels deep"),
                )
                .help("herald files nest only a few levels; check for runaway brackets"),
            ));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn check_tag(&self, tag: Option<&Tag>, at: Span) -> Result<(), Box<Diagnostic>> {
        match tag {
            Some(tag) if !tag.is_yaml_core_schema() => Err(Box::new(
                self.error(
                    Code::YamlUnsupported,
                    at,
                    format!("unsupported YAML tag `{}{}`", tag.handle, tag.suffix),
                )
                .help("remove the tag; herald reads plain YAML values"),
            )),
            _ => Ok(()),
        }
    }

    fn scalar(
        &self,
        value: &str,
        style: YamlStyle,
        tag: Option<&Tag>,
        at: Span,
    ) -> Result<Node, Box<Diagnostic>> {
        self.check_tag(tag, at)?;
        let style = match style {
            YamlStyle::Plain => ScalarStyle::Plain,
            YamlStyle::SingleQuoted | YamlStyle::DoubleQuoted => ScalarStyle::Quoted,
            YamlStyle::Literal | YamlStyle::Folded => ScalarStyle::Block,
        };
        let forced_string = tag.is_some_and(|t| t.suffix == "str");
        let kind = if style == ScalarStyle::Plain && !forced_string {
            resolve_plain(value)
        } else {
            NodeKind::String(value.to_owned(), style)
        };
        Ok(Node { span: at, kind })
    }

    /// Hands a completed node to its parent collection (or makes it a document root).
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Box<Diagnostic>> {
        if anchor != 0 {
            let size = node.weight();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let file = self.file;
        let source = self.source.clone();
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, seen, key, ..
            }) => match key.take() {
                None => {
                    let text =
                        match node.kind {
                            NodeKind::String(s, _) => s,
                            NodeKind::Number(n) => n.to_string(),
                            NodeKind::Bool(b) => b.to_string(),
                            NodeKind::Null => "null".to_owned(),
                            NodeKind::Seq(_) | NodeKind::Map(_) => {
                                return Err(Box::new(Diagnostic::error(
                                Code::YamlUnsupported,
                                file,
                                "a mapping key must be a plain value, not a list or mapping",
                            )
                            .at(node.span, Some(source))
                            .help("use a string as the key")));
                            }
                        };
                    *key = Some((text, node.span));
                }
                Some((text, key_span)) => {
                    if !seen.insert(text.clone()) {
                        let first = entries
                            .iter()
                            .find(|e| e.key == text)
                            .map_or(key_span, |e| e.key_span);
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::YamlDuplicateKey,
                                file,
                                format!("duplicate key `{text}`"),
                            )
                            .at(key_span, Some(source.clone()))
                            .label("written again here")
                            .help("remove one of the two; YAML would silently keep only one")
                            .related(Related {
                                file: file.to_owned(),
                                span: first,
                                message: "first written here".to_owned(),
                                source: Some(source),
                            }),
                        );
                    } else {
                        entries.push(Entry {
                            key: text,
                            key_span,
                            value: node,
                        });
                    }
                }
            },
        }
        Ok(())
    }
}

/// Resolves an unquoted scalar by the YAML 1.2 core schema.
fn resolve_plain(value: &str) -> NodeKind {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    let is_decimal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if is_decimal {
        if let Ok(i) = value.parse::<i64>() {
            return NodeKind::Number(i.into());
        }
        if let Ok(u) = value.parse::<u64>() {
            return NodeKind::Number(u.into());
        }
    }
    if let Some(hex) = value.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return NodeKind::Number(i.into());
    }
    if let Some(oct) = value.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return NodeKind::Number(i.into());
    }
    let looks_float = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_float
        && let Ok(f) = value.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return NodeKind::Number(n);
    }
    // `.inf` and `.nan` have no JSON form; keep them as the text the user wrote.
    NodeKind::String(value.to_owned(), ScalarStyle::Plain)
}

fn syntax_help(info: &str) -> String {
    if info.contains("tab") {
        "YAML does not allow tabs for indentation; indent with spaces".to_owned()
    } else if info.contains("unknown anchor") {
        "an alias `*name` needs an anchor `&name` earlier in the same file".to_owned()
    } else if info.contains("quoted scalar") {
        "a quoted value must end with the quote it starts with, on this or a later line".to_owned()
    } else if info.contains("mapping values are not allowed") {
        "a value containing `: ` must be quoted, e.g. \"a: b\"".to_owned()
    } else if info.contains("did not find expected") || info.contains("while parsing") {
        "check the indentation and the brackets or quotes around this point".to_owned()
    } else {
        "fix the YAML syntax at this point".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Vec<Node>, Vec<Diagnostic>) {
        parse("t.yaml", &SourceText::new(Arc::from(text), 1))
    }

    #[test]
    fn core_schema_scalars() {
        let (docs, diags) =
            parse_str("a: 1\nb: no\nc: 1.5\nd: ~\ne: true\nf: '1'\ng: +919019486731\n");
        assert!(diags.is_empty());
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"a": 1, "b": "no", "c": 1.5, "d": null, "e": true, "f": "1", "g": 919019486731_i64})
        );
    }

    #[test]
    fn positions_follow_pointers() {
        let (docs, _) = parse_str("campaigns:\n  x:\n    body: [a, \"b\"]\n");
        let node = docs[0].pointer("/campaigns/x/body/1").unwrap();
        assert_eq!(node.span.start, Pos { line: 3, col: 14 });
        assert_eq!(node.pos_in_text(0), Pos { line: 3, col: 15 });
        // A missing field lands on its parent; a block mapping is shown at its key.
        assert_eq!(
            docs[0].span_at("/campaigns/x/missing").start,
            Pos { line: 2, col: 2 }
        );
        // A flow list on its key's line is shown as itself.
        assert_eq!(
            docs[0].span_at("/campaigns/x/body").start,
            Pos { line: 3, col: 10 }
        );
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_places() {
        let (_, diags) = parse_str("a: 1\nb: 2\na: 3\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::YamlDuplicateKey);
        assert_eq!(diags[0].line(), 3);
        assert_eq!(diags[0].related[0].span.start.line, 1);
    }

    #[test]
    fn alias_bombs_stop_at_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let (docs, diags) = parse_str(&text);
        assert!(docs.is_empty());
        assert_eq!(diags[0].code, Code::YamlAliasLimit);
    }
}
