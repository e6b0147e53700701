use super::*;

/// A record as the tests compare them: its number, line, fields and first field's position.
type Row = (u64, u64, Vec<String>, (u64, usize, String));

fn row(record: &Record<'_>, place: Place) -> Row {
    let (line, col, text) = record.position(0);
    (
        place.row(record.row()),
        place.line(record.line()),
        record.iter().map(str::to_owned).collect(),
        (place.line(line), col, text),
    )
}

/// An error as the tests compare them.
fn error(e: &Error) -> (String, u64, u64, usize, Option<String>) {
    (e.problem(), e.row, e.line, e.col, e.text.clone())
}

type Outcome = (Vec<Row>, Option<(String, u64, u64, usize, Option<String>)>);

/// The rows after the header, read by one reader.
fn whole(text: &[u8]) -> Outcome {
    let mut reader = Reader::new(text);
    let mut rows = Vec::new();
    let header = reader.next_record();
    if let Err(e) = header {
        return (rows, Some(error(&e)));
    }
    loop {
        match reader.next_record() {
            Ok(Some(record)) => rows.push(row(&record, Place::default())),
            Ok(None) => return (rows, None),
            Err(e) => return (rows, Some(error(&e))),
        }
    }
}

/// The same in parts of `part` bytes on two threads; `None` when a cut was wrong.
fn in_parts(text: &[u8], part: usize) -> Option<Outcome> {
    let mut reader = Reader::new(text);
    if reader.next_record().is_err() {
        return Some(whole(text));
    }
    let split = Split { part, threads: 2 };
    let mut rows = Vec::new();
    let read = read_parts(
        reader,
        split,
        Vec::new,
        |rows: &mut Vec<Row>, record| {
            // Places are added when merged: the part's own numbers, and an empty place.
            rows.push(row(record, Place::default()));
            true
        },
        |part, place| {
            rows.extend(part.into_iter().map(|(r, l, fields, (pl, col, text))| {
                (
                    place.row(r),
                    place.line(l),
                    fields,
                    (place.line(pl), col, text),
                )
            }));
        },
    );
    match read {
        Ok(Parted::Read) => Some((rows, None)),
        Ok(Parted::Miscut) => None,
        Err(e) => Some((rows, Some(error(&e)))),
    }
}

/// Every part size reads `text` as one reader does (or finds its cut wrong, when `miscut`).
fn same_in_parts(text: &[u8], miscut: bool) {
    let expected = whole(text);
    let mut miscuts = 0;
    for part in 1..=text.len() + 1 {
        match in_parts(text, part) {
            Some(read) => assert_eq!(
                read,
                expected,
                "parts of {part} bytes of {:?}",
                String::from_utf8_lossy(text)
            ),
            None => miscuts += 1,
        }
    }
    assert_eq!(
        miscuts > 0,
        miscut,
        "{miscuts} miscuts of {:?}",
        String::from_utf8_lossy(text)
    );
}

#[test]
fn parts_read_as_one_reader_with_quoted_newlines_crlf_cr_and_blank_lines() {
    for text in [
        &b"phone,name\n+1,a\n+2,b\n+3,c\n+4,d\n"[..],
        b"phone,name\r\n+1,a\r\n\r\n+2,b\r\n+3,c\r\n",
        b"phone,name\r+1,a\r\r+2,b\r+3,c",
        b"phone,name\n+1,\"a\nb\nc\"\n\n\n+2,\"x\r\ny\"\n+3,\"q\"\"\n\"\"\"\n",
        b"phone,name\n+1,\"a,\n\",b\n",
        b"phone,name\n+1,a\n+2,b",
        b"phone,name\n\n\n",
    ] {
        same_in_parts(text, false);
    }
}

#[test]
fn a_bom_is_skipped_at_the_start_of_the_file_only() {
    same_in_parts(
        b"\xef\xbb\xbfphone,name\n+1,a\n\xef\xbb\xbf+2,b\n+3,c\n",
        false,
    );
    let (rows, _) = in_parts(b"phone\n+1\n\xef\xbb\xbf+2\n", 3).unwrap();
    assert_eq!(rows[1].2, ["\u{feff}+2"]);
}

#[test]
fn errors_in_later_parts_are_at_their_rows_and_lines() {
    for text in [
        &b"phone,name\n+1,\"a\nb\"\n+2,b\n+3,c,d\n+4,e\n"[..],
        b"phone,name\n+1,a\n+2,b\n+3,\"c\n+4,d\n",
        b"phone,name\r\n+1,a\r\n+2,caf\xe9\r\n+3,c\r\n",
        b"phone,name\n+1,a\n\n+2,b\0\n+3,c\n",
    ] {
        let (_, e) = whole(text);
        assert!(e.is_some(), "{:?}", String::from_utf8_lossy(text));
        same_in_parts(text, false);
    }
    let (rows, e) = in_parts(b"phone,name\n+1,a\n+2,b\n\n+3,c,d\n+4,e\n", 6).unwrap();
    assert_eq!(rows.len(), 2);
    let (problem, row, line, col, _) = e.unwrap();
    assert_eq!((row, line, col), (3, 5, 0), "{problem}");
}

#[test]
fn a_cut_inside_a_quoted_field_is_found_out() {
    // Quotes in unquoted text are literal: counting them misjudges where quoted fields are.
    let text = b"phone,name\n+1,5\" screen\n+2,\"a\nb\"\n+3,c\n+4,d\n";
    same_in_parts(text, true);
}

#[test]
fn each_stops_the_reading_where_it_says() {
    let text = b"phone\n+1\n+2\n+3\n+4\n+5\n";
    let mut reader = Reader::new(&text[..]);
    reader.next_record().unwrap();
    let mut seen = Vec::new();
    let read = read_parts(
        reader,
        Split {
            part: 3,
            threads: 2,
        },
        Vec::new,
        |rows: &mut Vec<u64>, record| {
            rows.push(record.row());
            record.get(0) != Some("+3")
        },
        |part, place| seen.extend(part.into_iter().map(|r| place.row(r))),
    );
    assert_eq!(read.unwrap(), Parted::Read);
    assert_eq!(seen, [1, 2, 3]);
}

#[test]
fn reads_of_a_part_end_where_a_file_reader_s_would() {
    let mut input = PartInput {
        bytes: vec![b'x'; 3 * CHUNK],
        pos: 0,
        at: CHUNK as u64 - 10,
        error: None,
    };
    let mut buf = vec![0u8; CHUNK];
    assert_eq!(input.read(&mut buf).unwrap(), 10);
    assert_eq!(input.read(&mut buf).unwrap(), CHUNK);
    assert_eq!(
        line_end(b"a\n\"b\nc\"\nd", true),
        Some(8),
        "even quotes before the cut"
    );
    assert_eq!(line_end(b"a\n\"b\nc", true), Some(2));
    assert_eq!(
        line_end(b"a\r\nb\r", false),
        Some(3),
        "never between CR and LF"
    );
    assert_eq!(line_end(b"a\rb", false), Some(2));
}
