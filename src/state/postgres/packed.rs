//! A delivery's history packed into one PostgreSQL row (schema 7): its requests and the rows
//! of its attempts and outcomes, as the bytes of the `log` column. A row of PostgreSQL costs a
//! 24-byte header, a line pointer and an index entry before any data, so a delivery kept as
//! one row instead of four (request, intent, outcome, latest) is what brings it under 250
//! bytes. The requests' bodies stay encoded as [`super::super::compact`] writes them.
//!
//! The format, integers as LEB128 varints unless said:
//!
//! - the number of requests, then each: a flags byte (1: a stored fingerprint follows, 32
//!   bytes; 2: a body follows, its length then its bytes);
//! - the number of rows, then each: its seq (the first whole, the next ones as the increase
//!   from the one before), a flags byte (outcome in bits 0-1, 4: pruned, 8: an API code
//!   follows, 16: a detail follows), its request's index, its time (the first as 8 bytes
//!   little-endian, the next ones as the zigzag difference from the one before), its run's
//!   id, the API code (zigzag) and the detail (length, then UTF-8).

use std::sync::Arc;

use super::super::compact::{self, Skeleton};
use super::super::layout;
use super::super::sql::{BadColumn, Column};
use super::super::{Delivery, PRUNED_REQUEST, StateError};
use crate::fingerprint::Fingerprint;

/// A request of a delivery, as [`layout`] stores one: its fingerprint only when it is not the
/// SHA-256 of the request (or the body is gone), its body encoded, `None` once pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) fingerprint: Option<[u8; 32]>,
    pub(super) body: Option<Vec<u8>>,
}

impl Request {
    /// Whether the request is kept as its body, whose SHA-256 is its fingerprint.
    pub(super) fn hashed(&self) -> bool {
        self.fingerprint.is_none() && self.body.is_some()
    }
}

/// A row of a delivery's history: an attempt (`in_flight`) or an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// Its place in the recording order of the whole state.
    pub(super) seq: i64,
    /// The index of its request in [`Log::requests`].
    pub(super) request: usize,
    /// [`layout::outcome_code`].
    pub(super) outcome: i16,
    pub(super) pruned: bool,
    /// [`layout::nanos`].
    pub(super) at: i64,
    /// The run's id (`runs`).
    pub(super) run: i64,
    pub(super) api_code: Option<i64>,
    pub(super) detail: Option<String>,
}

/// A delivery's requests and rows, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Log {
    pub(super) requests: Vec<Request>,
    pub(super) entries: Vec<Entry>,
}

const HAS_FINGERPRINT: u8 = 1;
const HAS_BODY: u8 = 2;
const PRUNED: u8 = 4;
const HAS_API_CODE: u8 = 8;
const HAS_DETAIL: u8 = 16;

impl Log {
    /// The latest row.
    pub(super) fn latest(&self) -> Option<&Entry> {
        self.entries.last()
    }

    /// When the delivery was last attempted or failed: pacing reads the deliveries whose
    /// `contact` is in its span (one index), then their rows.
    pub(super) fn contact(&self) -> Option<i64> {
        self.entries
            .iter()
            .filter(|e| e.outcome == 0 || e.outcome == 2)
            .map(|e| e.at)
            .max()
    }

    /// The bytes of the `log` column.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put(&mut out, self.requests.len() as u64);
        for request in &self.requests {
            let flags = u8::from(request.fingerprint.is_some()) * HAS_FINGERPRINT
                + u8::from(request.body.is_some()) * HAS_BODY;
            out.push(flags);
            if let Some(fp) = &request.fingerprint {
                out.extend_from_slice(fp);
            }
            if let Some(body) = &request.body {
                put(&mut out, body.len() as u64);
                out.extend_from_slice(body);
            }
        }
        put(&mut out, self.entries.len() as u64);
        let mut before: Option<&Entry> = None;
        for e in &self.entries {
            match before {
                None => put(&mut out, zigzag(e.seq)),
                Some(b) => put(&mut out, zigzag(e.seq.wrapping_sub(b.seq))),
            }
            let flags = (e.outcome as u8 & 3)
                + u8::from(e.pruned) * PRUNED
                + u8::from(e.api_code.is_some()) * HAS_API_CODE
                + u8::from(e.detail.is_some()) * HAS_DETAIL;
            out.push(flags);
            put(&mut out, e.request as u64);
            match before {
                None => out.extend_from_slice(&e.at.to_le_bytes()),
                Some(b) => put(&mut out, zigzag(e.at.wrapping_sub(b.at))),
            }
            put(&mut out, zigzag(e.run));
            if let Some(code) = e.api_code {
                put(&mut out, zigzag(code));
            }
            if let Some(detail) = &e.detail {
                put(&mut out, detail.len() as u64);
                out.extend_from_slice(detail.as_bytes());
            }
            before = Some(e);
        }
        out
    }

    /// The log stored as `bytes`.
    pub(super) fn decode(mut bytes: &[u8]) -> Column<Log> {
        let input = &mut bytes;
        let n = count(input)?;
        let mut requests = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            let flags = byte(input)?;
            let fingerprint = if flags & HAS_FINGERPRINT != 0 {
                let fp: [u8; 32] = take(input, 32)?.try_into().map_err(|_| truncated())?;
                Some(fp)
            } else {
                None
            };
            let body = if flags & HAS_BODY != 0 {
                let len = count(input)?;
                Some(take(input, len)?.to_vec())
            } else {
                None
            };
            requests.push(Request { fingerprint, body });
        }
        let n = count(input)?;
        let mut entries: Vec<Entry> = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            let before = entries.last().map(|b| (b.seq, b.at));
            let seq = unzigzag(get(input)?);
            let seq = before.map_or(seq, |(s, _)| s.wrapping_add(seq));
            let flags = byte(input)?;
            let request = count(input)?;
            if request >= requests.len() {
                return Err(BadColumn(format!(
                    "its history names request {request} of {}",
                    requests.len()
                )));
            }
            let at = match before {
                None => i64::from_le_bytes(take(input, 8)?.try_into().map_err(|_| truncated())?),
                Some((_, at)) => at.wrapping_add(unzigzag(get(input)?)),
            };
            let run = unzigzag(get(input)?);
            let api_code = (flags & HAS_API_CODE != 0)
                .then(|| get(input).map(unzigzag))
                .transpose()?;
            let detail = if flags & HAS_DETAIL != 0 {
                let len = count(input)?;
                let text = std::str::from_utf8(take(input, len)?)
                    .map_err(|_| BadColumn("a detail in its history is not UTF-8".to_owned()))?;
                Some(text.to_owned())
            } else {
                None
            };
            entries.push(Entry {
                seq,
                request,
                outcome: i16::from(flags & 3),
                pruned: flags & PRUNED != 0,
                at,
                run,
                api_code,
                detail,
            });
        }
        if !input.is_empty() {
            return Err(BadColumn("its history has bytes past its end".to_owned()));
        }
        Ok(Log { requests, entries })
    }

    /// Request `r` as text with its fingerprint (the stored one, or the hash of the text);
    /// `None` once its body is gone.
    pub(super) fn request_text(
        &self,
        r: usize,
        recipient: &str,
        skeleton: &mut dyn FnMut(i64) -> Result<Option<Arc<Skeleton>>, StateError>,
    ) -> Result<Column<Option<(String, Fingerprint)>>, StateError> {
        let request = &self.requests[r];
        let Some(body) = &request.body else {
            return Ok(Ok(None));
        };
        let found = match compact::skeleton_of(body) {
            Some(id) => skeleton(id)?,
            None => None,
        };
        Ok(compact::decode(body, recipient, found.as_deref())
            .map_err(|e| BadColumn(e.0))
            .map(|text| {
                let fingerprint = match &request.fingerprint {
                    Some(bytes) => Fingerprint(*bytes),
                    None => Fingerprint::of(text.as_bytes()),
                };
                Some((text, fingerprint))
            }))
    }

    /// The request of row `i` as text with its fingerprint, as [`layout::read_attempt`]
    /// reads a row: the body is decoded even for a pruned row, whose fingerprint is its hash.
    pub(super) fn request_of(
        &self,
        i: usize,
        recipient: &str,
        skeleton: &mut dyn FnMut(i64) -> Result<Option<Arc<Skeleton>>, StateError>,
    ) -> Result<Column<(String, Fingerprint)>, StateError> {
        let entry = &self.entries[i];
        let stored = self.requests[entry.request].fingerprint;
        Ok(
            match self.request_text(entry.request, recipient, skeleton)? {
                Err(why) => Err(why),
                Ok(Some((text, fingerprint))) => {
                    let text = if entry.pruned {
                        PRUNED_REQUEST.to_owned()
                    } else {
                        text
                    };
                    Ok((text, fingerprint))
                }
                Ok(None) if !entry.pruned => Err(BadColumn(
                    "its request is missing though it was never pruned".to_owned(),
                )),
                Ok(None) => match stored {
                    Some(bytes) => Ok((PRUNED_REQUEST.to_owned(), Fingerprint(bytes))),
                    None => Err(BadColumn(
                        "its fingerprint is missing though its request is gone".to_owned(),
                    )),
                },
            },
        )
    }

    /// Row `i` as a [`Delivery`] of `campaign` (`occurrence` as stored) to `recipient`, its
    /// run named by `run_name`.
    pub(super) fn delivery(
        &self,
        i: usize,
        (campaign, occurrence, recipient): (&str, &str, &str),
        run_name: &dyn Fn(i64) -> Option<String>,
        skeleton: &mut dyn FnMut(i64) -> Result<Option<Arc<Skeleton>>, StateError>,
    ) -> Result<Column<Delivery>, StateError> {
        let (request, fingerprint) = match self.request_of(i, recipient, skeleton)? {
            Ok(found) => found,
            Err(why) => return Ok(Err(why)),
        };
        let e = &self.entries[i];
        let read = || -> Column<Delivery> {
            Ok(Delivery {
                campaign: campaign.to_owned(),
                occurrence: occurrence_of(occurrence)?,
                recipient: recipient.to_owned(),
                fingerprint,
                request,
                outcome: layout::outcome_of(i64::from(e.outcome))?,
                api_code: e.api_code,
                detail: e.detail.clone(),
                at: layout::from_nanos(e.at)?,
                apply_id: run_name(e.run)
                    .ok_or_else(|| BadColumn(format!("its run {} is unknown", e.run)))?,
            })
        };
        Ok(read())
    }
}

/// An occurrence as stored: empty for a one-off campaign.
pub(super) fn occurrence_of(text: &str) -> Column<Option<jiff::Timestamp>> {
    if text.is_empty() {
        Ok(None)
    } else {
        super::super::sql::parse_timestamp(text).map(Some)
    }
}

fn truncated() -> BadColumn {
    BadColumn("its history is cut short".to_owned())
}

fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get(input: &mut &[u8]) -> Column<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = byte(input)?;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(BadColumn("its history holds a number too long".to_owned()))
}

fn count(input: &mut &[u8]) -> Column<usize> {
    usize::try_from(get(input)?).map_err(|_| truncated())
}

fn byte(input: &mut &[u8]) -> Column<u8> {
    let (&b, rest) = input.split_first().ok_or_else(truncated)?;
    *input = rest;
    Ok(b)
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Column<&'a [u8]> {
    if input.len() < n {
        return Err(truncated());
    }
    let (taken, rest) = input.split_at(n);
    *input = rest;
    Ok(taken)
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, request: usize, outcome: i16, at: i64) -> Entry {
        Entry {
            seq,
            request,
            outcome,
            pruned: false,
            at,
            run: 3,
            api_code: None,
            detail: None,
        }
    }

    #[test]
    fn a_log_reads_back_as_written() {
        let log = Log {
            requests: vec![
                Request {
                    fingerprint: None,
                    body: Some(b"\x01abc".to_vec()),
                },
                Request {
                    fingerprint: Some([7; 32]),
                    body: None,
                },
            ],
            entries: vec![
                entry(1_000_000, 0, 0, 1_790_000_000_000_000_000),
                Entry {
                    pruned: true,
                    api_code: Some(-1002),
                    detail: Some("rejected: ü".to_owned()),
                    ..entry(1_000_007, 0, 2, 1_789_999_999_000_000_000)
                },
                entry(1_000_009, 1, 1, i64::MIN),
                entry(1_000_010, 1, 3, i64::MAX),
            ],
        };
        let bytes = log.encode();
        assert_eq!(Log::decode(&bytes).unwrap(), log);
        assert_eq!(log.contact(), Some(1_790_000_000_000_000_000));
        for cut in 0..bytes.len() {
            assert!(Log::decode(&bytes[..cut]).is_err(), "{cut}");
        }
    }

    #[test]
    fn an_intent_and_its_outcome_take_a_few_bytes_beside_the_body() {
        let log = Log {
            requests: vec![Request {
                fingerprint: None,
                body: Some(vec![0; 30]),
            }],
            entries: vec![
                entry(123_456, 0, 0, 1_790_000_000_000_000_000),
                Entry {
                    api_code: Some(200),
                    ..entry(123_520, 0, 1, 1_790_000_000_150_000_000)
                },
            ],
        };
        assert!(log.encode().len() <= 30 + 30, "{}", log.encode().len());
    }
}
