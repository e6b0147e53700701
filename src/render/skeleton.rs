//! [`Skeleton`]: a template send's request as JSON text with holes for the per-recipient
//! values. Everything that is the same for every recipient is serialized once, at compile
//! time; a recipient's body is the chunks with its escaped values in between, and its
//! fingerprint is hashed from a shared prefix state without building the request at all.
//!
//! JSON escaping works character by character, so splicing gives exactly the bytes
//! serializing the whole message would (tests/render_equivalence.rs checks it).

use super::message::{Field, MessageError};
use super::recipients::Recipient;
use super::text::Renderer;
use crate::engati::{Body, Request};
use crate::fingerprint::{Fingerprint, Hasher};

/// The marker standing for the phone number while a skeleton is built.
pub(super) const PHONE_MARKER: &str = "\u{1}p\u{1}";

/// The marker standing for per-recipient field `index` while a skeleton is built.
pub(super) fn field_marker(index: usize) -> String {
    format!("\u{1}{index}\u{1}")
}

/// A template send's request with holes.
pub(super) struct Skeleton {
    /// The request's path.
    path: String,
    /// The body's text around the holes; one more than `holes`.
    chunks: Vec<String>,
    /// The chunks' total length: a body's size before its values.
    fixed_len: usize,
    /// What fills each hole.
    holes: Vec<Hole>,
    /// The hash state after the request's JSON up to its body (`{"method":"POST",...,"body":`).
    head: Hasher,
    /// The request's JSON after its body.
    tail: String,
}

enum Hole {
    Phone,
    Field(Field),
}

impl Skeleton {
    /// Cuts a request built with markers in place of the per-recipient values (field `i` of
    /// `fields` as [`field_marker`]`(i)`) into chunks and holes. `None` if the markers are
    /// not where they should be: the caller then serializes every message in full.
    pub(super) fn cut(request: &Request, fields: &[Field]) -> Option<Skeleton> {
        let json = request.body.as_ref()?.get();
        // Markers are \u0001 ID \u0001, which serde_json writes as `\u0001ID\u0001`.
        let mut chunks = Vec::new();
        let mut holes = Vec::new();
        let mut rest = json;
        while let Some(start) = rest.find("\\u0001") {
            let after = &rest[start + 6..];
            let end = after.find("\\u0001")?;
            let hole = match &after[..end] {
                "p" => Hole::Phone,
                n => Hole::Field(fields.get(n.parse::<usize>().ok()?)?.clone()),
            };
            chunks.push(rest[..start].to_owned());
            holes.push(hole);
            rest = &after[end + 6..];
        }
        chunks.push(rest.to_owned());
        // The request's own JSON around its body, found with a stand-in body.
        let stand_in = Body::of(&0);
        let whole = Request::post_raw(request.path.clone(), stand_in).to_json();
        let (head, tail) = whole.rsplit_once("\"body\":0")?;
        let mut head_hash = Hasher::new();
        head_hash.update(head.as_bytes());
        head_hash.update(b"\"body\":");
        Some(Skeleton {
            path: request.path.clone(),
            fixed_len: chunks.iter().map(String::len).sum(),
            chunks,
            holes,
            head: head_hash,
            tail: tail.to_owned(),
        })
    }

    /// Writes one recipient's body into `out`, replacing what it held.
    pub(super) fn fill(
        &self,
        renderer: &Renderer,
        recipient: &Recipient,
        out: &mut Vec<u8>,
    ) -> Result<(), MessageError> {
        out.clear();
        out.reserve(self.fixed_len + 128);
        for (chunk, hole) in self.chunks.iter().zip(&self.holes) {
            out.extend_from_slice(chunk.as_bytes());
            match hole {
                Hole::Phone => escape_into(out, &recipient.phone),
                Hole::Field(field) => escape_into(out, &field.render(renderer, recipient)?),
            }
        }
        if let Some(last) = self.chunks.last() {
            out.extend_from_slice(last.as_bytes());
        }
        Ok(())
    }

    /// The fingerprint of the request whose body [`fill`](Self::fill) wrote: the same as
    /// [`Request::fingerprint`] of [`request`](Self::request), without building it.
    pub(super) fn fingerprint(&self, body: &[u8]) -> Fingerprint {
        let mut hasher = self.head.clone();
        hasher.update(body);
        hasher.update(self.tail.as_bytes());
        hasher.finish()
    }

    /// The request with the body [`fill`](Self::fill) wrote. Takes the buffer (no copy) and
    /// leaves an empty one of the usual size.
    pub(super) fn request(&self, body: &mut Vec<u8>) -> Result<Request, MessageError> {
        let body = std::mem::replace(body, Vec::with_capacity(self.fixed_len + 128));
        // Chunks and escaped values are UTF-8 and make one JSON value by construction.
        let body = String::from_utf8(body).map_err(|e| {
            MessageError::new(
                "/send/template",
                format!("the request body is not valid UTF-8: {e}"),
            )
        })?;
        Ok(Request::post_raw(self.path.clone(), Body::assembled(body)))
    }
}

/// Appends a string's JSON escaping, without the quotes.
fn escape_into(out: &mut Vec<u8>, value: &str) {
    // serde_json's own escaping, so the bytes match a full serialization. It writes the quotes
    // too: drop the closing one and shift the value over the opening one (a few bytes).
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_ok() && out.len() >= start + 2 {
        out.pop();
        out.remove(start);
    }
}
