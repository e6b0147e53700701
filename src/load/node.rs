//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Validation works on JSON values (the schema is JSON Schema) but reports problems at YAML
//! positions; [`Node`] keeps both, so a JSON pointer from the schema validator or a semantic check
//! leads straight back to a line and column.

use serde_json::{Map, Number, Value};

// Positions are the diagnostics' vocabulary; nodes carry them.
pub use crate::diagnostic::{Pos, Span};

/// How a scalar was written; tells where its text starts inside the span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Unquoted.
    Plain,
    /// In single or double quotes.
    Quoted,
    /// A `|` or `>` block.
    Block,
}

/// A YAML node and its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node was written.
    pub span: Span,
    /// What it holds.
    pub kind: NodeKind,
}

/// A mapping entry: the key (with its own span, so "unknown field" can point at it) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string, and how it was quoted.
    String(String, ScalarStyle),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<Entry>),
}

impl Node {
    /// The JSON value of this node.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n) => Value::Number(n.clone()),
            NodeKind::String(s, _) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The entry under `key`, when this node is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The node a JSON pointer (RFC 6901, e.g. `/campaigns/x/send/body/2`) designates.
    pub fn pointer(&self, pointer: &str) -> Option<&Node> {
        if pointer.is_empty() {
            return Some(self);
        }
        let mut node = self;
        for raw in pointer.strip_prefix('/')?.split('/') {
            // Positions are looked up for every item validated: most tokens need no unescaping.
            let token = if raw.contains('~') {
                std::borrow::Cow::Owned(raw.replace("~1", "/").replace("~0", "~"))
            } else {
                std::borrow::Cow::Borrowed(raw)
            };
            node = match &node.kind {
                NodeKind::Map(_) => &node.entry(&token)?.value,
                NodeKind::Seq(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The span of the deepest node on the pointer's path that exists: a pointer into a missing
    /// field still lands on its parent.
    ///
    /// A block mapping or list (one that starts on a later line than its key) is shown at its key
    /// instead: its own span starts at its first child, and underlining that child would blame
    /// the wrong line ("`send` has 2 kinds" under `template:` rather than under `send:`).
    pub fn span_at(&self, pointer: &str) -> Span {
        let mut current = pointer;
        loop {
            if let Some(node) = self.pointer(current) {
                return self.key_span_of_block(current, node).unwrap_or(node.span);
            }
            match current.rfind('/') {
                Some(i) => current = &current[..i],
                None => return self.span,
            }
        }
    }

    /// The key span of `node` (found at `pointer`) when it is a block collection under a key.
    fn key_span_of_block(&self, pointer: &str, node: &Node) -> Option<Span> {
        if !matches!(node.kind, NodeKind::Map(_) | NodeKind::Seq(_)) {
            return None;
        }
        let (parent, key) = pointer.rsplit_once('/')?;
        let key = key.replace("~1", "/").replace("~0", "~");
        let entry = self.pointer(parent)?.entry(&key)?;
        (node.span.start.line > entry.key_span.start.line).then_some(entry.key_span)
    }

    /// Where character `offset` of this scalar's text was written, when it can be known exactly
    /// (a single-line plain or quoted scalar); otherwise the node's start.
    pub fn pos_in_text(&self, offset: usize) -> Pos {
        match &self.kind {
            NodeKind::String(_, style) if self.span.start.line == self.span.end.line => {
                let skip = usize::from(*style == ScalarStyle::Quoted);
                Pos {
                    line: self.span.start.line,
                    col: self.span.start.col + skip + offset,
                }
            }
            _ => self.span.start,
        }
    }

    /// What copying this tree costs, in nodes: one per node, and one per 64 bytes of text in
    /// its strings and keys (a few aliases of one long string cost as much as many nodes).
    pub fn weight(&self) -> usize {
        const BYTES_PER_NODE: usize = 64;
        1 + match &self.kind {
            NodeKind::String(text, _) => text.len() / BYTES_PER_NODE,
            NodeKind::Seq(items) => items.iter().map(Node::weight).sum(),
            NodeKind::Map(entries) => entries
                .iter()
                .map(|e| e.key.len() / BYTES_PER_NODE + e.value.weight())
                .sum(),
            _ => 0,
        }
    }
}

/// Escapes one JSON pointer token.
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Builds a JSON pointer from tokens.
pub fn pointer<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    tokens
        .into_iter()
        .map(|t| format!("/{}", escape_token(t.as_ref())))
        .collect()
}
