//! [`Reference`]: a campaign's first request, against which every later request of the
//! campaign is written as what differs from it.
//!
//! A campaign's requests share everything but a few values: the template, the path, the JSON
//! keys and punctuation are the same for every recipient, and the phone and the parameters
//! rendered from their fields differ. JSON text is cut into *scalars* (strings with their
//! quotes, numbers, `true`, `false`, `null`) and the *structure* between them; a body whose
//! structure is the reference's is written as the scalars that differ, by index. Anything
//! else (another shape, another path) is written whole. Reading puts the text back together
//! byte for byte: what apply sends is what was planned.

use memchr::memchr2;
use serde_json::value::RawValue;

use crate::engati::{Body, Request};

/// A campaign's first request, with where its body's scalars are.
pub(super) struct Reference {
    request: Request,
    /// The body's scalars, as byte spans, in order; empty when it has none (or no body).
    scalars: Vec<(usize, usize)>,
}

impl Reference {
    /// The reference a campaign's first request makes.
    pub(super) fn new(request: Request) -> Reference {
        let scalars = request
            .body
            .as_ref()
            .and_then(|body| scalars(body.get()))
            .unwrap_or_default();
        Reference { request, scalars }
    }

    /// The request itself.
    pub(super) fn request(&self) -> &Request {
        &self.request
    }

    /// The scalars of `body` that differ from the reference's, as (index, text); `false` when
    /// the body's structure is not the reference's. `changes` is cleared first.
    ///
    /// This runs for every recipient as the plan is written: rather than walk the body piece
    /// by piece it skips what is the same eight bytes at a time, and only where the two
    /// differ looks for the scalar the difference is in.
    pub(super) fn changes<'b>(&self, body: &'b str, changes: &mut Vec<(usize, &'b str)>) -> bool {
        changes.clear();
        let Some(reference) = self.request.body.as_ref().map(Body::get) else {
            return false;
        };
        if self.scalars.is_empty() {
            return false;
        }
        let (ours, theirs) = (body.as_bytes(), reference.as_bytes());
        let (mut at, mut their_at, mut next) = (0, 0, 0);
        loop {
            let same = common_prefix(&ours[at..], &theirs[their_at..]);
            if at + same == ours.len() && their_at + same == theirs.len() {
                return true;
            }
            let differ = their_at + same;
            // The scalar the difference is in, or the one it ends right after (a number
            // that grew a digit).
            let k = next + self.scalars[next..].partition_point(|&(_, end)| end < differ);
            let Some(&(start, end)) = self.scalars.get(k) else {
                return false;
            };
            if start > differ {
                return false;
            }
            let from = at + (start - their_at);
            if from >= ours.len() || is_structure(ours[from]) {
                return false;
            }
            let Some(to) = scalar_end(ours, from) else {
                return false;
            };
            if ours[from..to] == theirs[start..end] {
                return false;
            }
            changes.push((k, &body[from..to]));
            (at, their_at, next) = (to, end, k + 1);
        }
    }

    /// The reference's body with the scalars at `changes`' indexes (ascending) replaced.
    /// `None` if an index is past the last scalar, out of order, or a replacement is not one
    /// JSON scalar.
    pub(super) fn body_with(&self, changes: &[(usize, &str)]) -> Option<Body> {
        let reference = self.request.body.as_ref()?.get();
        let mut out = String::with_capacity(reference.len() + 64);
        let mut copied = 0;
        for &(index, with) in changes {
            let &(start, end) = self.scalars.get(index)?;
            if start < copied || !is_one_scalar(with) {
                return None;
            }
            out.push_str(&reference[copied..start]);
            out.push_str(with);
            copied = end;
        }
        out.push_str(&reference[copied..]);
        Some(Body::assembled(out))
    }
}

/// How many bytes `a` and `b` start with in common, compared eight at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + 8 <= n {
        let (x, y) = (&a[at..at + 8], &b[at..at + 8]);
        let differ = u64::from_le_bytes(x.try_into().unwrap_or_default())
            ^ u64::from_le_bytes(y.try_into().unwrap_or_default());
        if differ != 0 {
            return at + (differ.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + a[at..n]
        .iter()
        .zip(&b[at..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The spans of the scalars of JSON text; `None` if it is not made of scalars and structure
/// (a body herald made always is).
fn scalars(text: &str) -> Option<Vec<(usize, usize)>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if is_structure(bytes[at]) {
            at += 1;
            continue;
        }
        let end = scalar_end(bytes, at)?;
        spans.push((at, end));
        at = end;
    }
    Some(spans)
}

/// Punctuation and whitespace: what separates JSON scalars.
fn is_structure(byte: u8) -> bool {
    matches!(
        byte,
        b'{' | b'}' | b'[' | b']' | b':' | b',' | b' ' | b'\n' | b'\r' | b'\t'
    )
}

/// The end of the scalar starting at `start`: past the closing quote of a string, or at the
/// first structure byte after a number or literal. `None` for a string never closed.
fn scalar_end(text: &[u8], start: usize) -> Option<usize> {
    if text[start] != b'"' {
        let rest = &text[start..];
        return Some(
            start
                + rest
                    .iter()
                    .position(|&b| is_structure(b))
                    .unwrap_or(rest.len()),
        );
    }
    let mut at = start + 1;
    loop {
        at += memchr2(b'"', b'\\', text.get(at..)?)?;
        if text[at] == b'"' {
            return Some(at + 1);
        }
        // A backslash escapes the byte after it (`\uXXXX`'s digits need no care).
        at += 2;
    }
}

/// Whether `text` is exactly one JSON string, number or literal.
fn is_one_scalar(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && !is_structure(bytes[0])
        && scalar_end(bytes, 0) == Some(bytes.len())
        && serde_json::from_str::<&RawValue>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> Request {
        Request::post_raw("/p".to_owned(), Body::parse(body).unwrap())
    }

    fn round_trip(reference: &str, body: &str) -> Vec<(usize, String)> {
        let reference = Reference::new(request(reference));
        let mut changes = Vec::new();
        assert!(reference.changes(body, &mut changes), "{body}");
        let back = reference.body_with(&changes).unwrap();
        assert_eq!(back.get(), body);
        changes
            .into_iter()
            .map(|(i, s)| (i, s.to_owned()))
            .collect()
    }

    #[test]
    fn only_the_scalars_that_differ_are_kept() {
        let reference = r#"{"phone":"+911","params":[{"text":"Asha"},{"text":"10"}],"n":1}"#;
        let body = r#"{"phone":"+912","params":[{"text":"Asha"},{"text":"11 \"q\" \\"}],"n":2}"#;
        let changes = round_trip(reference, body);
        assert_eq!(
            changes,
            [
                (1, "\"+912\"".to_owned()),
                (6, r#""11 \"q\" \\""#.to_owned()),
                (8, "2".to_owned())
            ]
        );
        assert!(round_trip(reference, reference).is_empty());
        // Numbers that grow or lose a digit, and strings that grow past their quote.
        let reference = r#"{"n":10,"s":"ab","t":[7]}"#;
        assert_eq!(
            round_trip(reference, r#"{"n":100,"s":"ab","t":[7]}"#).len(),
            1
        );
        assert_eq!(
            round_trip(reference, r#"{"n":1,"s":"abc","t":[75]}"#).len(),
            3
        );
        assert_eq!(
            round_trip(reference, r#"{"n":10,"s":"a\"","t":[-7]}"#).len(),
            2
        );
    }

    #[test]
    fn another_shape_is_not_a_change() {
        let reference = Reference::new(request(r#"{"a":["x","y"]}"#));
        let mut changes = Vec::new();
        for body in [
            r#"{"a":["x"]}"#,
            r#"{"a":["x","y","z"]}"#,
            r#"{"a":{"x":"y"}}"#,
            r#"{"a":["x","y"]} "#,
            r#"{"a":["x","y"]}{}"#,
            r#"{"a":["x,y"]}"#,
        ] {
            assert!(!reference.changes(body, &mut changes), "{body}");
        }
    }

    #[test]
    fn replacements_must_be_one_scalar_each() {
        let reference = Reference::new(request(r#"{"a":"x","b":1}"#));
        assert!(reference.body_with(&[(1, "\"y\"")]).is_some());
        for bad in ["\"y", "1,2", "{}", "", "\"\\q\"", "nul"] {
            assert!(reference.body_with(&[(1, bad)]).is_none(), "{bad}");
        }
        // Past the last scalar, or out of order.
        assert!(reference.body_with(&[(4, "1")]).is_none());
        assert!(reference.body_with(&[(3, "1"), (1, "\"y\"")]).is_none());
    }
}
