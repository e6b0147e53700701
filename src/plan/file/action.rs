//! One action as a plan file record: a flags byte, the recipient, the request (whole, or as
//! what differs from the campaign's [`Reference`]), and the rarer fields as JSON.
//!
//! ```text
//! flags      u8: kind (bits 0-2, ActionKind::ALL's order), sends (3), fingerprint kept (4),
//!                extras (5), request whole (6)
//! recipient  str
//! fingerprint 32 bytes, when kept
//! request    whole: method u8, path str, query (varint n, n × (str, str)), body (u8 0|1, str)
//!            or: parts u8 (path 0, query 1, body whole 2), [method u8, path str], [query],
//!                body: whole (u8 0|1, str), or changes (varint n, n × (varint gap, str))
//! extras     str (JSON: previous, reconciled, window and pacing times), when present
//! ```
//! `str` is a varint length and UTF-8 bytes. A request's fingerprint is the SHA-256 of its
//! JSON, so it is kept only where it is not (a broadcast without a fixed time leaves
//! `publishedOn` out of it) and worked out again on reading; apply's check that the file is
//! the plan, made again, compares the fingerprints too.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::delta::Reference;
use super::error::{PlanFileError, damaged};
use crate::engati::{Body, Method, Request};
use crate::fingerprint::Fingerprint;
use crate::leb128;
use crate::plan::{Action, ActionKind, Previous};
use crate::reconcile::Decision;

const SENDS: u8 = 1 << 3;
const FINGERPRINT: u8 = 1 << 4;
const EXTRAS: u8 = 1 << 5;
const WHOLE: u8 = 1 << 6;

const PATH: u8 = 1;
const QUERY: u8 = 1 << 1;
const BODY: u8 = 1 << 2;

/// The fields most actions leave out, written as JSON.
#[derive(Serialize)]
struct ExtrasOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<&'a Previous>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reconciled: Option<&'a Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_opens: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_closes: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capped_until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wave_opens: Option<Timestamp>,
}

/// [`ExtrasOut`] read back.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtrasIn {
    #[serde(default)]
    previous: Option<Previous>,
    #[serde(default)]
    reconciled: Option<Decision>,
    #[serde(default)]
    window_opens: Option<Timestamp>,
    #[serde(default)]
    window_closes: Option<Timestamp>,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    capped_until: Option<Timestamp>,
    #[serde(default)]
    wave_opens: Option<Timestamp>,
}

/// Writes `action` into `out` (cleared first). `reference` is the campaign's first request
/// (`None` for the first action, which is written whole); `keep_fingerprint` says the
/// fingerprint is not the request's own hash.
pub(super) fn encode(
    action: &Action,
    reference: Option<&Reference>,
    keep_fingerprint: bool,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    out.clear();
    let kind = ActionKind::ALL
        .iter()
        .position(|&k| k == action.action)
        .unwrap_or_default() as u8;
    let has_extras = action.previous.is_some()
        || action.reconciled.is_some()
        || action.window_opens.is_some()
        || action.window_closes.is_some()
        || action.zone.is_some()
        || action.capped_until.is_some()
        || action.wave_opens.is_some();
    let mut flags = kind;
    flags |= if action.sends { SENDS } else { 0 };
    flags |= if keep_fingerprint { FINGERPRINT } else { 0 };
    flags |= if has_extras { EXTRAS } else { 0 };
    flags |= if reference.is_none() { WHOLE } else { 0 };
    out.push(flags);
    put_str(out, &action.recipient);
    if keep_fingerprint {
        out.extend_from_slice(&action.fingerprint.0);
    }
    match reference {
        None => put_whole(out, &action.request),
        Some(reference) => put_delta(out, &action.request, reference),
    }
    if has_extras {
        let extras = ExtrasOut {
            previous: action.previous.as_ref(),
            reconciled: action.reconciled.as_ref(),
            window_opens: action.window_opens,
            window_closes: action.window_closes,
            zone: action.zone.as_deref(),
            capped_until: action.capped_until,
            wave_opens: action.wave_opens,
        };
        let json = serde_json::to_vec(&extras)?;
        put_bytes(out, &json);
    }
    Ok(())
}

fn put_whole(out: &mut Vec<u8>, request: &Request) {
    out.push(method_byte(request.method));
    put_str(out, &request.path);
    put_query(out, &request.query);
    put_body(out, request.body.as_ref());
}

fn put_delta(out: &mut Vec<u8>, request: &Request, reference: &Reference) {
    let base = reference.request();
    let mut changes = Vec::new();
    let body_changes = match (&request.body, &base.body) {
        (Some(body), Some(_)) => reference.changes(body.get(), &mut changes),
        _ => false,
    };
    let mut parts = 0;
    if request.method != base.method || request.path != base.path {
        parts |= PATH;
    }
    if request.query != base.query {
        parts |= QUERY;
    }
    if !body_changes {
        parts |= BODY;
    }
    out.push(parts);
    if parts & PATH != 0 {
        out.push(method_byte(request.method));
        put_str(out, &request.path);
    }
    if parts & QUERY != 0 {
        put_query(out, &request.query);
    }
    if parts & BODY != 0 {
        put_body(out, request.body.as_ref());
    } else {
        leb128::put(out, changes.len() as u64);
        let mut last = 0;
        for (index, text) in changes {
            leb128::put(out, (index - last) as u64);
            put_str(out, text);
            last = index;
        }
    }
}

fn method_byte(method: Method) -> u8 {
    match method {
        Method::Get => 0,
        Method::Post => 1,
    }
}

fn put_query(out: &mut Vec<u8>, query: &[(String, String)]) {
    leb128::put(out, query.len() as u64);
    for (name, value) in query {
        put_str(out, name);
        put_str(out, value);
    }
}

fn put_body(out: &mut Vec<u8>, body: Option<&Body>) {
    match body {
        None => out.push(0),
        Some(body) => {
            out.push(1);
            put_str(out, body.get());
        }
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    leb128::put(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads an action back; `reference` as for [`encode`]. Without `requests`, its request is
/// skipped (left empty, the fingerprint zero): what an outline needs is the rest, and the
/// request is most of the work.
pub(super) fn decode(
    payload: &[u8],
    reference: Option<&Reference>,
    requests: bool,
) -> Result<Action, PlanFileError> {
    let mut input = Input(payload);
    let flags = input.byte()?;
    let action = *ActionKind::ALL
        .get(usize::from(flags & 0b111))
        .ok_or_else(|| bad("an action of no known kind"))?;
    let recipient = input.str()?.to_owned();
    let kept = if flags & FINGERPRINT != 0 {
        let bytes = input.take(32)?;
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(bytes);
        Some(Fingerprint(fingerprint))
    } else {
        None
    };
    let request = match (flags & WHOLE != 0, reference) {
        (true, _) => whole(&mut input)?,
        (false, _) if !requests => skip_delta(&mut input)?,
        (false, Some(reference)) => delta(&mut input, reference)?,
        (false, None) => return Err(bad("a campaign's first action is not whole")),
    };
    let extras = if flags & EXTRAS != 0 {
        serde_json::from_slice::<ExtrasIn>(input.bytes()?)
            .map_err(|e| bad(format_args!("an action's details do not read: {e}")))?
    } else {
        ExtrasIn::default()
    };
    if !input.0.is_empty() {
        return Err(bad("an action goes on past its end"));
    }
    Ok(Action {
        recipient,
        action,
        sends: flags & SENDS != 0,
        fingerprint: match kept {
            Some(kept) => kept,
            None if requests => request.fingerprint(),
            None => Fingerprint([0; 32]),
        },
        request,
        previous: extras.previous,
        reconciled: extras.reconciled,
        window_opens: extras.window_opens,
        window_closes: extras.window_closes,
        zone: extras.zone,
        capped_until: extras.capped_until,
        wave_opens: extras.wave_opens,
    })
}

fn whole(input: &mut Input<'_>) -> Result<Request, PlanFileError> {
    let method = input.method()?;
    let path = input.str()?.to_owned();
    let query = input.query()?;
    let body = input.body()?;
    Ok(Request {
        method,
        path,
        query,
        body,
    })
}

fn delta(input: &mut Input<'_>, reference: &Reference) -> Result<Request, PlanFileError> {
    let base = reference.request();
    let parts = input.byte()?;
    let (method, path) = if parts & PATH != 0 {
        (input.method()?, input.str()?.to_owned())
    } else {
        (base.method, base.path.clone())
    };
    let query = if parts & QUERY != 0 {
        input.query()?
    } else {
        base.query.clone()
    };
    let body = if parts & BODY != 0 {
        input.body()?
    } else {
        let count = input.varint()?;
        let mut changes = Vec::with_capacity(count.min(1024) as usize);
        let mut index = 0usize;
        for n in 0..count {
            let gap = usize::try_from(input.varint()?).map_err(|_| bad("a change too far"))?;
            // Indexes rise: every gap but the first is at least one.
            if n > 0 && gap == 0 {
                return Err(bad("an action's changes are out of order"));
            }
            index = index
                .checked_add(gap)
                .ok_or_else(|| bad("a change too far"))?;
            changes.push((index, input.str()?));
        }
        Some(
            reference
                .body_with(&changes)
                .ok_or_else(|| bad("an action's changes do not fit its campaign's request"))?,
        )
    };
    Ok(Request {
        method,
        path,
        query,
        body,
    })
}

/// Reads past a request written as changes, checking only that it is whole.
fn skip_delta(input: &mut Input<'_>) -> Result<Request, PlanFileError> {
    let parts = input.byte()?;
    if parts & PATH != 0 {
        input.method()?;
        input.bytes()?;
    }
    if parts & QUERY != 0 {
        input.query()?;
    }
    if parts & BODY != 0 {
        if input.byte()? == 1 {
            input.bytes()?;
        }
    } else {
        for _ in 0..input.varint()? {
            input.varint()?;
            input.bytes()?;
        }
    }
    Ok(Request {
        method: Method::Post,
        path: String::new(),
        query: Vec::new(),
        body: None,
    })
}

/// What is left of a record being read.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PlanFileError> {
        if self.0.len() < n {
            return Err(bad("an action ends too early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, PlanFileError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, PlanFileError> {
        leb128::take(&mut self.0).ok_or_else(|| bad("a number cut short or too long"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], PlanFileError> {
        let len = usize::try_from(self.varint()?).map_err(|_| bad("a length too long"))?;
        self.take(len)
    }

    fn str(&mut self) -> Result<&'a str, PlanFileError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad("text that is not UTF-8"))
    }

    fn method(&mut self) -> Result<Method, PlanFileError> {
        match self.byte()? {
            0 => Ok(Method::Get),
            1 => Ok(Method::Post),
            _ => Err(bad("a request of no known method")),
        }
    }

    fn query(&mut self) -> Result<Vec<(String, String)>, PlanFileError> {
        let count = self.varint()?;
        let mut query = Vec::with_capacity(count.min(64) as usize);
        for _ in 0..count {
            query.push((self.str()?.to_owned(), self.str()?.to_owned()));
        }
        Ok(query)
    }

    fn body(&mut self) -> Result<Option<Body>, PlanFileError> {
        match self.byte()? {
            0 => Ok(None),
            1 => Body::parse(self.str()?)
                .map(Some)
                .map_err(|e| bad(format_args!("a request body that is not JSON: {e}"))),
            _ => Err(bad("a request body of no known form")),
        }
    }
}

fn bad(detail: impl std::fmt::Display) -> PlanFileError {
    damaged(format_args!("it holds {detail}"))
}
