//! Reading CSV files strictly, record by record: the one CSV reader of herald, for validate
//! and for render alike.
//!
//! CSV parsers prefer *a* parse to none, which is wrong for a list of people to message: an
//! unterminated quote would swallow every later row into one field and send those people's
//! numbers inside one recipient's message. So, on top of `csv_core`'s parser (RFC 4180, `""`
//! for a quote inside quotes, LF or CRLF, blank lines skipped, a UTF-8 BOM ignored):
//! - a quote still open at the end of the file is an error, at the line it was opened;
//! - every record must have as many fields as the header;
//! - fields are UTF-8 without NUL bytes, at most [`MAX_FIELD_BYTES`] each, and records at
//!   most [`MAX_RECORD_BYTES`] and [`MAX_COLUMNS`]: memory stays bounded whatever the file;
//! - positions are real: the line a record starts on (counting newlines inside quotes) and
//!   the column of a field, for LF and CRLF files alike.
//!
//! [`read_parts`] reads a large file's rows on several threads, as one reader would (parts.rs).

use std::io::{self, Read};

/// The longest field herald reads: far above WhatsApp's longest parameter (2,000 characters
/// for a URL), far below anything that would strain memory.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// The longest record.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// The most columns a record may have.
pub const MAX_COLUMNS: usize = 1024;

/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;

mod parts;

pub use parts::{Parted, Place, Split, read_parts};

/// What is wrong with a CSV file.
#[derive(Debug)]
pub enum ErrorKind {
    /// The file could not be read.
    Io(io::Error),
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// A NUL byte (binary data).
    Nul,
    /// Field `field` (0-based) is longer than [`MAX_FIELD_BYTES`].
    FieldTooLong {
        /// Which field.
        field: usize,
    },
    /// The record is longer than [`MAX_RECORD_BYTES`].
    RecordTooLong,
    /// The record has more than [`MAX_COLUMNS`] fields.
    TooManyColumns,
    /// The record's field count differs from the header's.
    FieldCount {
        /// The header's.
        expected: usize,
        /// This record's.
        found: usize,
    },
    /// A quoted field is never closed.
    UnclosedQuote,
    /// A quoted field runs past [`MAX_RECORD_BYTES`]: its closing quote is probably missing.
    QuotedTooLong,
}

/// A problem at a place in a CSV file.
#[derive(Debug)]
pub struct Error {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The record's number: 0 for the header, 1 for the first row after it.
    pub row: u64,
    /// 1-based line.
    pub line: u64,
    /// 0-based column, in characters.
    pub col: usize,
    /// The text of that line (lossy UTF-8), for a snippet; `None` for I/O errors.
    pub text: Option<String>,
}

impl Error {
    /// One line saying what is wrong, for the file shown as `name`.
    pub fn message(&self, name: &str) -> String {
        match &self.kind {
            ErrorKind::Io(e) => format!("cannot read {name}: {e}"),
            _ => format!("{name} line {}: {}", self.line, self.problem()),
        }
    }

    /// What is wrong, where the file and line are shown beside it.
    pub fn problem(&self) -> String {
        match &self.kind {
            ErrorKind::Io(e) => format!("cannot read the file: {e}"),
            ErrorKind::NotUtf8 => "the text is not UTF-8".to_owned(),
            ErrorKind::Nul => "a NUL byte; this is not a text file".to_owned(),
            ErrorKind::FieldTooLong { field } => format!(
                "field {} is longer than {} KiB",
                field + 1,
                MAX_FIELD_BYTES / 1024
            ),
            ErrorKind::RecordTooLong => format!(
                "the row is longer than {} MiB",
                MAX_RECORD_BYTES / 1024 / 1024
            ),
            ErrorKind::TooManyColumns => format!("more than {MAX_COLUMNS} columns"),
            ErrorKind::FieldCount { expected, found } => {
                format!("the row has {found} fields where the header has {expected}")
            }
            ErrorKind::UnclosedQuote => "a quoted field opened here is never closed".to_owned(),
            ErrorKind::QuotedTooLong => format!(
                "a quoted field opened here runs past {} MiB; is its closing quote missing?",
                MAX_RECORD_BYTES / 1024 / 1024
            ),
        }
    }

    /// How to fix it.
    pub fn help(&self) -> &'static str {
        match &self.kind {
            ErrorKind::Io(_) => "check that the file is readable",
            ErrorKind::NotUtf8 => {
                "save the file as UTF-8 (spreadsheets offer \"CSV UTF-8\" when saving)"
            }
            ErrorKind::Nul => {
                "export the audience as CSV text, not as a spreadsheet or binary file"
            }
            ErrorKind::FieldTooLong { .. } | ErrorKind::RecordTooLong => {
                "audience fields are names, numbers and short texts; is a quote left open above?"
            }
            ErrorKind::TooManyColumns => "keep only the columns campaigns read",
            ErrorKind::FieldCount { .. } => {
                "every row needs one value per header column; quote values that contain commas"
            }
            ErrorKind::UnclosedQuote | ErrorKind::QuotedTooLong => {
                "close the quote (a quote inside a quoted value is written twice: \"\"); every \
                 row after an open quote would be read as part of this one value"
            }
        }
    }
}

/// One record: its fields, and where it was written.
#[derive(Debug, Clone, Copy)]
pub struct Record<'r> {
    text: &'r str,
    ends: &'r [usize],
    raw: &'r [u8],
    line: u64,
    row: u64,
}

impl<'r> Record<'r> {
    /// Its number: 0 for the header, 1 for the first row after it.
    pub fn row(&self) -> u64 {
        self.row
    }

    /// The line it starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// How many fields it has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it has no fields (never, for a record read from a file).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`.
    pub fn get(&self, i: usize) -> Option<&'r str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'r str> + '_ {
        // Every end is a character boundary (the record's bytes are checked as UTF-8 whole,
        // and fields end at ASCII delimiters), so no field is ever left out.
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// The fields' text, concatenated, and where each ends in it.
    pub fn parts(&self) -> (&'r str, &'r [usize]) {
        (self.text, self.ends)
    }

    /// Where field `i` starts: its line, column (characters) and that line's text.
    pub fn position(&self, i: usize) -> (u64, usize, String) {
        let start = scan(self.raw).starts.get(i).copied().unwrap_or(0);
        locate(self.raw, self.line, start)
    }
}

/// Reads a CSV file's records.
pub struct Reader<R> {
    core: csv_core::Reader,
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    done: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    raw: Vec<u8>,
    /// The line of the next unread byte.
    line: u64,
    /// Whether the last byte counted was a `\r` (so a `\n` right after it ends no new line).
    after_cr: bool,
    /// Whether any of the file has been read past a BOM's place.
    started_file: bool,
    /// The line the current record starts on.
    record_line: u64,
    /// Records read so far.
    rows: u64,
    /// The number of the record being read.
    current: u64,
    /// The header's field count.
    width: Option<usize>,
    /// Bytes taken from `input` so far.
    taken: u64,
    /// Whether this reader goes on from a line end another reader reached ([`parts`]): its
    /// first read is then no file's first.
    resumed: bool,
}

/// Where a reader stood after a record: what another needs to go on from there.
#[derive(Debug, Clone, Copy)]
struct Resume {
    /// The last byte read was a `\r`.
    after_cr: bool,
    /// The header's field count.
    width: Option<usize>,
}

impl<R: Read> Reader<R> {
    /// A reader over `input`; its first record is the header.
    pub fn new(input: R) -> Reader<R> {
        Reader {
            core: csv_core::Reader::new(),
            input,
            buf: vec![0u8; CHUNK].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            done: false,
            out: vec![0u8; 4096],
            ends: vec![0usize; 16],
            raw: Vec::new(),
            line: 1,
            after_cr: false,
            started_file: false,
            record_line: 1,
            rows: 0,
            current: 0,
            width: None,
            taken: 0,
            resumed: false,
        }
    }

    /// A reader going on at a line end outside quotes that another reader (`at`) reached, over
    /// the bytes from there: records as that reader would have read them, but numbered from 0
    /// and on lines counted from 1 ([`Place`] tells where they really are).
    fn resume(input: R, at: Resume) -> Reader<R> {
        let mut core = csv_core::Reader::new();
        // csv_core skips a BOM at the start of its first input only: a blank line read first
        // (as between records, where `input` starts) leaves one in the field it begins, as
        // it is in the middle of a file. After a record, csv_core is where a new one starts
        // (a `\n` after a record's `\r` is skipped as a blank line would be).
        let _ = core.read_record(b"\n", &mut [0u8; 1], &mut [0usize; 1]);
        Reader {
            core,
            after_cr: at.after_cr,
            started_file: true,
            width: at.width,
            resumed: true,
            ..Reader::new(input)
        }
    }

    /// What is left: the bytes read but not yet parsed, where they start in the input, the
    /// input, and what a reader going on needs. Only between records.
    fn into_rest(self) -> (Vec<u8>, u64, R, Resume) {
        let left = (self.len - self.pos) as u64;
        let rest = self.buf[self.pos..self.len].to_vec();
        let at = Resume {
            after_cr: self.after_cr,
            width: self.width,
        };
        (rest, self.taken - left, self.input, at)
    }

    /// The line of the next unread byte and the records read so far.
    fn counts(&self) -> (u64, u64) {
        (self.line, self.rows)
    }

    /// The next record (the header first), or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, Error> {
        if self.done {
            return Ok(None);
        }
        self.current = self.rows;
        self.raw.clear();
        let (mut nout, mut nends) = (0usize, 0usize);
        let mut last;
        let mut started = false;
        loop {
            if self.pos == self.len && !self.eof {
                self.fill()?;
            }
            let input = &self.buf[self.pos..self.len];
            last = input.is_empty();
            let (result, nin, out_n, ends_n) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nends..]);
            self.raw.extend_from_slice(&input[..nin]);
            self.pos += nin;
            nout += out_n;
            nends += ends_n;
            if !started {
                started = self.skip_blank_lines();
            }
            if self.raw.len() > 3 * MAX_RECORD_BYTES {
                return Err(self.too_long(ErrorKind::RecordTooLong));
            }
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    if self.out.len() >= MAX_RECORD_BYTES {
                        return Err(self.too_long(ErrorKind::RecordTooLong));
                    }
                    let grown = (self.out.len() * 2).min(MAX_RECORD_BYTES);
                    self.out.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_COLUMNS {
                        return Err(self.error(ErrorKind::TooManyColumns, 0));
                    }
                    let grown = (self.ends.len() * 2).min(MAX_COLUMNS);
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => break,
                csv_core::ReadRecordResult::End => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
        let row = self.rows;
        self.rows += 1;
        // Only the record that ran into the end of the file can hold an unclosed quote: an
        // open quote swallows everything after it.
        if last && let Some(open) = scan(&self.raw).open_quote {
            return Err(self.error(ErrorKind::UnclosedQuote, open));
        }
        self.check(nout, nends)?;
        self.line += line_breaks(&self.raw, self.after_cr);
        self.after_cr = self.raw.last() == Some(&b'\r');
        // The record as written, not the fields joined: a character cut in two by a comma
        // (`\xc3,\xa9`) joins into valid UTF-8 but would split no field at a boundary.
        if let Err(e) = std::str::from_utf8(&self.raw) {
            return Err(self.error(ErrorKind::NotUtf8, e.valid_up_to()));
        }
        // Valid, as the raw text is (fields are cut from it at ASCII delimiters). Converting
        // again (fast for ASCII) avoids holding a borrow of `out` across the error path above.
        let text = std::str::from_utf8(&self.out[..nout]).unwrap_or_default();
        Ok(Some(Record {
            text,
            ends: &self.ends[..nends],
            raw: &self.raw,
            line: self.record_line,
            row,
        }))
    }

    /// Reads more of the file. The first read takes at least 4 bytes (when there are that
    /// many), so a UTF-8 BOM is seen whole and skipped however the file is read, with a byte
    /// after it: `csv_core` takes input left empty after the BOM for the end of the file.
    fn fill(&mut self) -> Result<(), Error> {
        let first = !self.resumed && self.rows == 0 && self.raw.is_empty();
        let mut filled = 0;
        loop {
            match self.input.read(&mut self.buf[filled..]) {
                Ok(n) => {
                    filled += n;
                    self.taken += n as u64;
                    if first && n > 0 && filled < 4 {
                        continue;
                    }
                    self.pos = 0;
                    self.len = filled;
                    self.eof = filled == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error {
                        kind: ErrorKind::Io(e),
                        row: self.rows,
                        line: self.line,
                        col: 0,
                        text: None,
                    });
                }
            }
        }
    }

    /// Drops the blank lines (and a BOM) before a record from its raw text, counting them, so
    /// the record's line is where its text starts and memory does not grow with blank lines.
    /// Returns whether the record's text has started.
    fn skip_blank_lines(&mut self) -> bool {
        // csv_core skips a BOM only at the very start of the file, and so do the positions.
        let bom = if !self.started_file && self.raw.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        self.started_file = self.started_file || !self.raw.is_empty();
        let blank = self.raw[bom..]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        if blank > 0 {
            let skipped = &self.raw[bom..bom + blank];
            self.line += line_breaks(skipped, self.after_cr);
            self.after_cr = skipped.last() == Some(&b'\r');
        }
        self.raw.drain(..bom + blank);
        self.record_line = self.line;
        !self.raw.is_empty()
    }

    /// Checks a whole record: NUL bytes, field lengths, the field count.
    fn check(&mut self, nout: usize, nends: usize) -> Result<(), Error> {
        if self.out[..nout].contains(&0) {
            let at = self.raw.iter().position(|&b| b == 0).unwrap_or(0);
            return Err(self.error(ErrorKind::Nul, at));
        }
        let mut start = 0;
        for (field, &end) in self.ends[..nends].iter().enumerate() {
            if end - start > MAX_FIELD_BYTES {
                let at = scan(&self.raw).starts.get(field).copied().unwrap_or(0);
                return Err(self.error(ErrorKind::FieldTooLong { field }, at));
            }
            start = end;
        }
        match self.width {
            None => self.width = Some(nends),
            Some(expected) if expected != nends => {
                let found = nends;
                return Err(self.error(ErrorKind::FieldCount { expected, found }, 0));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// An over-long record: a quoted field running past the limit when one is open (its
    /// closing quote is probably missing), else as given.
    fn too_long(&mut self, kind: ErrorKind) -> Error {
        match scan(&self.raw).open_quote {
            Some(open) => self.error(ErrorKind::QuotedTooLong, open),
            None => self.error(kind, 0),
        }
    }

    /// An error at byte `offset` of the current record's raw text.
    fn error(&mut self, kind: ErrorKind, offset: usize) -> Error {
        self.done = true;
        let (line, col, text) = locate(&self.raw, self.record_line, offset);
        Error {
            kind,
            row: self.current,
            line,
            col,
            text: Some(text),
        }
    }
}

/// What a scan of a record's raw text finds.
struct Scan {
    /// Where each field starts.
    starts: Vec<usize>,
    /// Where a quote that is never closed opens.
    open_quote: Option<usize>,
}

/// Follows a record's raw text as `csv_core` reads it (a field is quoted when it starts with
/// `"`; inside, `""` is a quote and `"` ends the quoting; a comma or line end outside quotes
/// ends the field), to find where fields start and whether a quote is left open.
fn scan(raw: &[u8]) -> Scan {
    let mut starts = vec![0];
    let mut open_quote = None;
    let mut at_start = true;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if open_quote.is_some() {
            if b == b'"' {
                if raw.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    open_quote = None;
                }
            }
        } else if b == b'"' && at_start {
            open_quote = Some(i);
        } else if b == b',' {
            starts.push(i + 1);
            at_start = true;
            i += 1;
            continue;
        } else if b == b'\n' || b == b'\r' {
            break;
        }
        at_start = false;
        i += 1;
    }
    Scan { starts, open_quote }
}

/// How many lines `bytes` ends, as CSV ends them: `\n`, `\r\n` or a lone `\r` (old Mac
/// files). `after_cr`: the byte before them was a `\r`.
fn line_breaks(bytes: &[u8], after_cr: bool) -> u64 {
    let mut count = 0;
    let mut previous_cr = after_cr;
    for &b in bytes {
        match b {
            b'\n' if previous_cr => previous_cr = false,
            b'\n' => count += 1,
            b'\r' => {
                count += 1;
                previous_cr = true;
            }
            _ => previous_cr = false,
        }
    }
    count
}

/// Characters of a line shown on each side of a position: enough to recognize the row, never
/// a megabyte of one field.
const EXCERPT_CHARS: usize = 80;

/// The line, column (characters) and line text of byte `offset` of a record starting on line
/// `first_line`. A long line is cut to the stretch around the column (the column then counts
/// from the cut).
fn locate(raw: &[u8], first_line: u64, offset: usize) -> (u64, usize, String) {
    let offset = offset.min(raw.len());
    let before = &raw[..offset];
    let newlines = line_breaks(before, false);
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(0, |i| i + 1);
    let line_end = raw[offset..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(raw.len(), |i| offset + i);
    let head: Vec<char> = String::from_utf8_lossy(&raw[line_start..offset])
        .chars()
        .collect();
    let skip = head.len().saturating_sub(EXCERPT_CHARS);
    let tail: String = String::from_utf8_lossy(&raw[offset..line_end])
        .chars()
        .take(EXCERPT_CHARS)
        .collect();
    let text: String = head[skip..].iter().collect::<String>() + &tail;
    (first_line + newlines, head.len() - skip, text)
}

#[cfg(test)]
mod tests;
