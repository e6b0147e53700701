//! The container's framing: a text first line naming the format and its version, then one
//! zstd frame of records, each a tag, a length and a payload, closed by a checksum record
//! holding the SHA-256 of every record before it.
//!
//! The first line is text so that `head -1 plan` says what a file is, and so that a file of
//! another version is named as such rather than called damaged. The checksum is inside the
//! compressed stream and must be followed by the end of the frame and of the file: a file cut
//! short, bytes flipped in transit or appended to are all refused.

use std::io::{self, BufRead, Read, Write};

use super::error::{PlanFileError, damaged, not_a_plan};
use crate::fingerprint::{Fingerprint, Hasher};

/// What a plan file's first line starts with; the version number and a newline follow.
pub(super) const MAGIC: &[u8] = b"herald plan file ";

/// The plan file format this herald writes and reads. Bumped on any incompatible change.
pub const FILE_VERSION: u32 = 2;

/// zstd's level: plans compress well at the fastest levels, and planning is the hot path.
const LEVEL: i32 = 1;

/// The longest action record read: far above any request (a v1 broadcast's body lists its
/// whole audience), and a bound on what a hostile file (a few kilobytes of zstd can claim a
/// gigabyte of zeros) can make herald allocate.
const MAX_ACTION: u64 = 256 << 20;

/// The longest header, campaign or totals record read (JSON of a few kilobytes).
const MAX_JSON: u64 = 16 << 20;

/// The kinds of record, in the order a plan has them (actions repeat, campaigns repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    /// The header, as JSON.
    Header = 1,
    /// A campaign, as JSON.
    Campaign = 2,
    /// One action, binary ([`super::action`]).
    Action = 3,
    /// A campaign's counts and cost, as JSON.
    EndCampaign = 4,
    /// The totals and cost, as JSON.
    End = 5,
    /// The SHA-256 of every record before it.
    Checksum = 6,
}

impl Tag {
    fn of(byte: u8) -> Option<Tag> {
        Some(match byte {
            1 => Tag::Header,
            2 => Tag::Campaign,
            3 => Tag::Action,
            4 => Tag::EndCampaign,
            5 => Tag::End,
            6 => Tag::Checksum,
            _ => return None,
        })
    }
}

/// Writes records into a compressed plan file.
pub(super) struct RecordWriter<W: Write> {
    /// `None` once finished.
    out: Option<zstd::stream::write::Encoder<'static, W>>,
    /// The writer, once finished and flushed.
    done: Option<W>,
    hasher: Hasher,
    frame: Vec<u8>,
}

impl<W: Write> RecordWriter<W> {
    /// Writes the first line and starts the compressed stream.
    pub(super) fn new(mut out: W) -> io::Result<RecordWriter<W>> {
        out.write_all(MAGIC)?;
        writeln!(out, "{FILE_VERSION}")?;
        let mut encoder = zstd::stream::write::Encoder::new(out, LEVEL)?;
        encoder.include_checksum(true)?;
        Ok(RecordWriter {
            out: Some(encoder),
            done: None,
            hasher: Hasher::new(),
            frame: Vec::with_capacity(16),
        })
    }

    /// Writes one record.
    pub(super) fn record(&mut self, tag: Tag, payload: &[u8]) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Err(io::Error::other("the plan file is already finished"));
        };
        self.frame.clear();
        self.frame.push(tag as u8);
        crate::leb128::put(&mut self.frame, payload.len() as u64);
        self.hasher.update(&self.frame);
        self.hasher.update(payload);
        out.write_all(&self.frame)?;
        out.write_all(payload)
    }

    /// Writes the checksum and ends the compressed stream.
    pub(super) fn finish(&mut self) -> io::Result<()> {
        let sum = std::mem::take(&mut self.hasher).finish();
        self.record(Tag::Checksum, &sum.0)?;
        if let Some(out) = self.out.take() {
            let mut out = out.finish()?;
            out.flush()?;
            self.done = Some(out);
        }
        Ok(())
    }

    /// The underlying writer, once finished (`None` before: the file is not whole).
    pub(super) fn into_inner(self) -> Option<W> {
        self.done
    }
}

/// Reads the records of a plan file, checking its version first and its checksum last.
pub(super) struct RecordReader<R: BufRead> {
    /// `None` once the checksum and the end of the file were read.
    input: Option<zstd::stream::read::Decoder<'static, R>>,
    hasher: Hasher,
    payload: Vec<u8>,
}

impl<R: BufRead> RecordReader<R> {
    /// Reads the first line: a plan file of this version, or a refusal naming what it is.
    pub(super) fn open(mut input: R) -> Result<RecordReader<R>, PlanFileError> {
        let mut line = Vec::new();
        (&mut input)
            .take(64)
            .read_until(b'\n', &mut line)
            .map_err(|e| reading(&e))?;
        if line.first() == Some(&b'{') {
            return Err(json_plan(&line));
        }
        let Some(version) = line
            .strip_prefix(MAGIC)
            .and_then(|rest| rest.strip_suffix(b"\n"))
        else {
            return Err(not_a_plan("it does not start with `herald plan file`"));
        };
        let version = std::str::from_utf8(version)
            .ok()
            .and_then(|v| v.parse().ok());
        if version != Some(FILE_VERSION) {
            return Err(other_version(version));
        }
        let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| reading(&e))?
            .single_frame();
        // A window past what LEVEL uses is no plan herald wrote: refuse it rather than
        // allocate it.
        decoder.window_log_max(27).map_err(|e| reading(&e))?;
        Ok(RecordReader {
            input: Some(decoder),
            hasher: Hasher::new(),
            payload: Vec::new(),
        })
    }

    /// The next record, or `None` after the checksum, once it matched and nothing follows.
    pub(super) fn next(&mut self) -> Result<Option<(Tag, &[u8])>, PlanFileError> {
        let Some(input) = self.input.as_mut() else {
            return Ok(None);
        };
        let mut frame = Vec::with_capacity(11);
        let mut byte = [0u8];
        if read_exact_or_end(input, &mut byte)? {
            return Err(damaged("it ends too early; was it copied whole?"));
        }
        let tag = Tag::of(byte[0]).ok_or_else(|| damaged("it holds a record of no known kind"))?;
        frame.push(byte[0]);
        let len = get_varint(input, &mut frame)?;
        let most = match tag {
            Tag::Action => MAX_ACTION,
            Tag::Checksum => 32,
            _ => MAX_JSON,
        };
        if len > most {
            return Err(damaged(format!(
                "it holds a record of {len} bytes, more than one of its kind can be ({most})"
            )));
        }
        self.payload.clear();
        let read = input
            .take(len)
            .read_to_end(&mut self.payload)
            .map_err(|e| corrupt(&e))?;
        if read as u64 != len {
            return Err(damaged("it ends too early; was it copied whole?"));
        }
        if tag == Tag::Checksum {
            let sum = std::mem::take(&mut self.hasher).finish();
            if self.payload != sum.0 {
                return Err(damaged("its checksum does not match its contents"));
            }
            self.end()?;
            return Ok(None);
        }
        self.hasher.update(&frame);
        self.hasher.update(&self.payload);
        Ok(Some((tag, &self.payload)))
    }

    /// After the checksum: the compressed stream and the file must both end.
    fn end(&mut self) -> Result<(), PlanFileError> {
        let Some(mut input) = self.input.take() else {
            return Ok(());
        };
        let mut byte = [0u8];
        if !read_exact_or_end(&mut input, &mut byte)? {
            return Err(damaged("it goes on after its checksum"));
        }
        let mut rest = input.finish();
        let trailing = rest.fill_buf().map_err(|e| reading(&e))?;
        if !trailing.is_empty() {
            return Err(damaged("it goes on after its checksum"));
        }
        Ok(())
    }
}

/// Reads exactly `buf`, or nothing at the end of the stream (`true`).
fn read_exact_or_end(input: &mut impl Read, buf: &mut [u8]) -> Result<bool, PlanFileError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(true),
            Ok(0) => return Err(damaged("it ends too early; was it copied whole?")),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(&e)),
        }
    }
    Ok(false)
}

/// Reads a LEB128 number from `input`, appending its bytes to `seen`.
fn get_varint(input: &mut impl Read, seen: &mut Vec<u8>) -> Result<u64, PlanFileError> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        if read_exact_or_end(input, &mut byte)? {
            return Err(damaged("it ends too early; was it copied whole?"));
        }
        seen.push(byte[0]);
        n |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(damaged("it holds a length too long to be one"))
}

fn reading(error: &io::Error) -> PlanFileError {
    PlanFileError {
        message: format!("cannot read the plan: {error}"),
        help: "give the path `herald plan --out` wrote".to_owned(),
    }
}

/// A read error inside the compressed stream: zstd finding it cut short or corrupt (or the
/// disk failing, which it says).
fn corrupt(error: &io::Error) -> PlanFileError {
    if error.kind() == io::ErrorKind::UnexpectedEof || error.to_string() == "incomplete frame" {
        return damaged("it ends too early; was it copied whole?");
    }
    damaged(format_args!("its compressed data does not read ({error})"))
}

/// A file that is the JSON view of a plan: readable, not applicable.
fn json_plan(first: &[u8]) -> PlanFileError {
    let version = std::str::from_utf8(first).ok().and_then(|line| {
        let rest = line.strip_prefix("{\"format_version\":")?.trim_start();
        let end = rest.find(|c: char| !c.is_ascii_digit())?;
        rest[..end].parse::<u32>().ok()
    });
    let what = match version {
        Some(v) => format!("a plan in JSON (format_version {v})"),
        None => "JSON".to_owned(),
    };
    PlanFileError {
        message: format!(
            "this is {what}, not a plan file; this herald reads plan files of version {FILE_VERSION}"
        ),
        help: "a JSON plan (`--format json`, or a plan file saved by an older herald) is for \
               reading; make the plan again with `herald plan --out FILE` and apply that"
            .to_owned(),
    }
}

/// A plan file of another version (or none that parses).
fn other_version(version: Option<u32>) -> PlanFileError {
    let message = match version {
        Some(v) => format!("plan file version {v}; this herald reads version {FILE_VERSION}"),
        None => "the plan file's version is unreadable".to_owned(),
    };
    PlanFileError {
        message,
        help: "make the plan again with this herald (`herald plan --out FILE`)".to_owned(),
    }
}

/// A reader that hashes what passes through it: the file's own SHA-256, which apply records.
pub(super) struct Hashing<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Hashing<R> {
    pub(super) fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Hasher::new(),
        }
    }

    pub(super) fn finish(self) -> Fingerprint {
        self.hasher.finish()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
