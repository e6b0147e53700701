//! Reading a CSV file's rows on several threads: the file is cut into parts at line ends, each
//! part is read by a [`Reader`] of its own, and what the parts give is merged in file order.
//! A ten-million-row audience takes seconds to read on one core; on two it takes half.
//!
//! Where a record ends depends on every quote before it, which no thread reading the middle of
//! a file knows. Parts are cut where the quotes counted since the last cut are even (exact for
//! RFC 4180 files, where a quote opens a field, `""` doubles, and a quote closes it), and each
//! cut is checked when the part before it has been read: a part that ends inside a quoted field
//! shows it as an unclosed quote at its end, which a part ending at a real line end never does.
//! A wrong cut (stray quotes in unquoted fields can fool the count) makes the reading
//! [`Parted::Miscut`]: the caller reads the file again on one thread. Everything else is as one
//! reader would find it: the same records, fields and errors, at the same rows, lines and
//! columns (a part's reads stop where one reader's would, every 64 KiB of the file, so even
//! where an overlong record is noticed is the same).

use std::io::{self, Read};
use std::sync::mpsc;

use super::{CHUNK, Error, ErrorKind, MAX_RECORD_BYTES, Reader, Record, Resume};

// A part cut with no line end in 4 parts' bytes holds a record longer than a reader takes.
const _: () = assert!(4 * PART > 3 * MAX_RECORD_BYTES + CHUNK);

/// Bytes of a part: big enough that handing parts around costs nothing, small enough that a
/// few in flight per thread hold little memory.
const PART: usize = 2 * 1024 * 1024;

/// How a file is read: in parts of `part` bytes on `threads` threads, or whole on this one.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    /// Bytes of a part (a cut waits for the next line end).
    pub part: usize,
    /// Threads reading parts; 1 reads the file on the calling thread, as one reader.
    pub threads: usize,
}

impl Split {
    /// For a file of `size` bytes with `threads` to read it: one thread unless there are a
    /// few parts to share.
    pub fn new(size: u64, threads: usize) -> Split {
        let worth = size >= 4 * PART as u64;
        Split {
            part: PART,
            threads: if worth { threads } else { 1 },
        }
    }

    /// One thread: the whole file in order.
    pub fn whole() -> Split {
        Split {
            part: PART,
            threads: 1,
        }
    }
}

/// Where a part's records are in the file: the reader of a part numbers its records from 0
/// and its lines from 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct Place {
    rows: u64,
    lines: u64,
}

impl Place {
    /// The number in the file of the part's record numbered `row`.
    pub fn row(&self, row: u64) -> u64 {
        self.rows + row
    }

    /// The line in the file of the part's line `line`.
    pub fn line(&self, line: u64) -> u64 {
        self.lines + line
    }
}

/// How a reading in parts ended (when no record was wrong).
#[derive(Debug, PartialEq, Eq)]
pub enum Parted {
    /// Every record was read, or `each` stopped the reading.
    Read,
    /// A part was cut inside a quoted field: what was merged is not the file's reading. Read
    /// it again with [`Split::whole`].
    Miscut,
}

/// Reads the records after the header of `rows` as `split` says. Each part starts a state
/// with `start`, hands it every record in turn to `each` (which returns `false` to stop the
/// reading there), and the states go to `merge` in file order, with their [`Place`]; when the
/// reading stops early (a record `each` stopped at, or an error, returned with its place in
/// the file), states after that part's are never merged. With one thread, the one state's
/// records carry their places already ([`Place::default`]).
pub fn read_parts<R: Read + Send, S: Send>(
    mut rows: Reader<R>,
    split: Split,
    start: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, &Record<'_>) -> bool + Sync,
    mut merge: impl FnMut(S, Place),
) -> Result<Parted, Error> {
    if split.threads <= 1 {
        let mut state = start();
        let read = loop {
            match rows.next_record() {
                Ok(Some(record)) => {
                    if !each(&mut state, &record) {
                        break Ok(Parted::Read);
                    }
                }
                Ok(None) => break Ok(Parted::Read),
                Err(e) => break Err(e),
            }
        };
        merge(state, Place::default());
        return read;
    }
    let (line, read) = rows.counts();
    let mut place = Place {
        rows: read,
        lines: line - 1,
    };
    let (rest, at, input, resume) = rows.into_rest();
    let threads = split.threads;
    let (start, each) = (&start, &each);
    std::thread::scope(|scope| {
        let mut inputs = Vec::with_capacity(threads);
        let mut outputs = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (to_worker, from_cutter) = mpsc::sync_channel::<Part>(1);
            let (to_merger, from_worker) = mpsc::sync_channel::<Done<S>>(1);
            inputs.push(to_worker);
            outputs.push(from_worker);
            scope.spawn(move || {
                for part in from_cutter {
                    // A closed channel means the merger stopped: so do we.
                    if to_merger.send(read_part(part, start, each)).is_err() {
                        return;
                    }
                }
            });
        }
        // Parts' bytes go back to the cutter to be filled again.
        let (spare, spares) = mpsc::channel::<Vec<u8>>();
        let cutter = Cutter {
            input,
            part: split.part,
            workers: inputs,
            spares,
        };
        scope.spawn(move || cutter.run(rest, at, resume));
        let mut turn = 0;
        // Parts come back in the turn they were handed out in: file order.
        while let Ok(done) = outputs[turn % threads].recv() {
            turn += 1;
            let open = |e: &Error| matches!(e.kind, ErrorKind::UnclosedQuote);
            if !done.last && done.error.as_ref().is_some_and(open) {
                return Ok(Parted::Miscut);
            }
            merge(done.state, place);
            if let Some(mut e) = done.error {
                e.row += place.rows;
                e.line += place.lines;
                return Err(e);
            }
            if done.stopped || done.last {
                return Ok(Parted::Read);
            }
            place.rows += done.rows;
            place.lines += done.lines - 1;
            let _ = spare.send(done.bytes);
        }
        // A worker stopped without its part: only a panic does that, which the scope passes on.
        Ok(Parted::Read)
    })
}

/// A part to read: its bytes (from a line end outside quotes, as far as the cutter can tell,
/// to one), where they start in the file, and how the reader before them ended.
struct Part {
    bytes: Vec<u8>,
    at: u64,
    resume: Resume,
    /// The file's last part: its end is the file's.
    last: bool,
    /// Why the file could not be read past the part's bytes.
    error: Option<io::Error>,
}

/// A part read: the state its records gave, and where its reading ended.
struct Done<S> {
    state: S,
    /// Records read (that many numbers used).
    rows: u64,
    /// The line of the byte after the part, counted from 1 at its start.
    lines: u64,
    error: Option<Error>,
    /// `each` stopped the reading.
    stopped: bool,
    last: bool,
    bytes: Vec<u8>,
}

fn read_part<S>(
    part: Part,
    start: &impl Fn() -> S,
    each: &impl Fn(&mut S, &Record<'_>) -> bool,
) -> Done<S> {
    let mut state = start();
    let input = PartInput {
        bytes: part.bytes,
        pos: 0,
        at: part.at,
        error: part.error,
    };
    let mut reader = Reader::resume(input, part.resume);
    let (mut error, mut stopped) = (None, false);
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                if !each(&mut state, &record) {
                    stopped = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let (lines, rows) = reader.counts();
    Done {
        state,
        rows,
        lines,
        error,
        stopped,
        last: part.last,
        bytes: reader.input.bytes,
    }
}

/// A part's bytes as a reader's input, then the file's read error if one ended them. Reads
/// stop at the file's 64 KiB marks, where one reader's reads of the file end: a record grows
/// by the same pieces, so what it is found to be (an overlong one) is the same.
struct PartInput {
    bytes: Vec<u8>,
    pos: usize,
    at: u64,
    error: Option<io::Error>,
}

impl Read for PartInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.bytes.len() - self.pos;
        if left == 0 {
            return match self.error.take() {
                Some(e) => Err(e),
                None => Ok(0),
            };
        }
        let at = self.at + self.pos as u64;
        let to_mark = CHUNK - (at % CHUNK as u64) as usize;
        let n = buf.len().min(left).min(to_mark);
        buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads the file and cuts it into parts, handed to the workers in turn.
struct Cutter<R> {
    input: R,
    part: usize,
    workers: Vec<mpsc::SyncSender<Part>>,
    spares: mpsc::Receiver<Vec<u8>>,
}

impl<R: Read> Cutter<R> {
    /// Cuts the file from `pending` (the bytes after the header, at `at`) on.
    fn run(mut self, mut pending: Vec<u8>, mut at: u64, mut resume: Resume) {
        let mut sent = 0usize;
        loop {
            let mut want = self.part;
            let (cut, error, last) = loop {
                let (end, error) = fill(&mut self.input, &mut pending, want);
                if end {
                    break (pending.len(), error, true);
                }
                let head = &pending[..want];
                // Past a few parts' length without even quotes before a line end, stray
                // quotes are miscounting: any line end will do (a wrong one is found out).
                let strict = want < 4 * self.part.max(PART);
                if let Some(cut) = line_end(head, strict) {
                    break (cut, None, false);
                }
                // No line end at all in more than a record's most (4 parts are more): the
                // record is too long, an error wherever the part ends.
                if !strict {
                    break (want, None, false);
                }
                want += self.part;
            };
            let mut next = match self.spares.try_recv() {
                Ok(mut spare) => {
                    spare.clear();
                    spare
                }
                Err(_) => Vec::with_capacity(self.part + CHUNK),
            };
            next.extend_from_slice(&pending[cut..]);
            pending.truncate(cut);
            let part = Part {
                bytes: std::mem::replace(&mut pending, next),
                at,
                resume,
                last,
                error,
            };
            at += cut as u64;
            resume.after_cr = false;
            if self.workers[sent % self.workers.len()].send(part).is_err() || last {
                return;
            }
            sent += 1;
        }
    }
}

/// Reads from `input` until `pending` holds `want` bytes: whether the file ended (or failed,
/// with the error) first.
fn fill(input: &mut impl Read, pending: &mut Vec<u8>, want: usize) -> (bool, Option<io::Error>) {
    while pending.len() < want {
        let len = pending.len();
        pending.resize(want, 0);
        match input.read(&mut pending[len..]) {
            Ok(0) => {
                pending.truncate(len);
                return (true, None);
            }
            Ok(n) => pending.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => pending.truncate(len),
            Err(e) => {
                pending.truncate(len);
                return (true, Some(e));
            }
        }
    }
    (false, None)
}

/// Where to cut `bytes`: after the last line end (`\n`, or a `\r` that no `\n` follows), when
/// `even`, the last with an even count of quotes before it. `None` when there is none.
fn line_end(bytes: &[u8], even: bool) -> Option<usize> {
    let mut odd = memchr::memchr_iter(b'"', bytes).count() % 2 == 1;
    let mut i = bytes.len();
    while i > 0 {
        let b = bytes[i - 1];
        let ends = b == b'\n' || (b == b'\r' && bytes.get(i).is_some_and(|&n| n != b'\n'));
        if ends && !(even && odd) {
            return Some(i);
        }
        if b == b'"' {
            odd = !odd;
        }
        i -= 1;
    }
    None
}

#[cfg(test)]
mod tests;
