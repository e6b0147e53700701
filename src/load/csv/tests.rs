use super::*;

fn rows(text: &[u8]) -> Result<Vec<(u64, Vec<String>)>, Error> {
    let mut reader = Reader::new(text);
    let mut out = Vec::new();
    while let Some(record) = reader.next_record()? {
        out.push((record.line(), record.iter().map(str::to_owned).collect()));
    }
    Ok(out)
}

#[test]
fn lines_are_real_for_lf_crlf_blank_lines_and_quoted_newlines() {
    let lf = rows(b"phone,name\n+1,\"A\nB\"\n\n+2,C\n").unwrap();
    let crlf = rows(b"phone,name\r\n+1,\"A\r\nB\"\r\n\r\n+2,C\r\n").unwrap();
    assert_eq!(lf.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 5]);
    assert_eq!(crlf.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 5]);
    assert_eq!(lf[1].1, ["+1", "A\nB"]);
    assert_eq!(crlf[1].1, ["+1", "A\r\nB"]);
    let cr = rows(b"phone,name\r+1,A\r\r+2,B\r").unwrap();
    assert_eq!(cr.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 4]);
    let bom = rows(b"\xef\xbb\xbfphone\n+1").unwrap();
    assert_eq!(
        bom,
        [(1, vec!["phone".to_owned()]), (2, vec!["+1".to_owned()])]
    );
}

#[test]
fn an_unclosed_quote_is_an_error_at_the_line_it_opens() {
    for text in [
        &b"phone,name\n+1,A\n+2,\"B\n+3,C\n+4,D\n"[..],
        b"phone,name\r\n+1,A\r\n+2,\"B\r\n+3,C\r\n",
        b"phone,name\n+1,A\n+2,\"B",
    ] {
        let e = rows(text).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnclosedQuote), "{e:?}");
        assert_eq!((e.line, e.col), (3, 3), "{e:?}");
        assert_eq!(e.text.as_deref(), Some("+2,\"B"));
    }
    // Closed quotes, escaped quotes and quotes inside unquoted text are fine.
    let ok = rows(b"phone,name\n+1,\"A \"\"B\"\"\"\n+2,x\"y\n").unwrap();
    assert_eq!(ok[1].1[1], "A \"B\"");
    assert_eq!(ok[2].1[1], "x\"y");
}

#[test]
fn an_unclosed_quote_past_the_record_limit_is_named_as_such() {
    let mut text = b"phone,name\n+1,\"open\n".to_vec();
    text.extend(b"+2,x\n".repeat(MAX_RECORD_BYTES / 4));
    let e = rows(&text).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::QuotedTooLong), "{e:?}");
    assert_eq!(e.line, 2);
}

#[test]
fn ragged_rows_nul_bytes_long_fields_and_bad_utf8_are_errors_with_positions() {
    let e = rows(b"phone,name\n+1,A\n+2,B,extra\n").unwrap_err();
    assert!(matches!(
        e.kind,
        ErrorKind::FieldCount {
            expected: 2,
            found: 3
        }
    ));
    assert_eq!((e.row, e.line), (2, 3));

    let e = rows(b"phone,name\n+1,A\0B\n").unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Nul));
    assert_eq!((e.line, e.col), (2, 4));

    let long = format!("phone,name\n+1,{}\n", "x".repeat(MAX_FIELD_BYTES + 1));
    let e = rows(long.as_bytes()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::FieldTooLong { field: 1 }));
    assert_eq!((e.line, e.col), (2, 3));

    let e = rows(b"phone,name\n+1,caf\xe9\n").unwrap_err();
    assert!(matches!(e.kind, ErrorKind::NotUtf8));
    assert_eq!((e.line, e.col), (2, 6));

    let wide = format!("{}\n", vec!["c"; MAX_COLUMNS + 1].join(","));
    let e = rows(wide.as_bytes()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TooManyColumns));
}

#[test]
fn a_character_cut_by_a_comma_is_not_utf8() {
    // `\xc3,\xa9` joins into `é` once the comma is gone, but no field may end inside it.
    let e = rows(b"a,b,phone\n\xc3,\xa9,+1\n").unwrap_err();
    assert!(matches!(e.kind, ErrorKind::NotUtf8), "{e:?}");
    assert_eq!((e.row, e.line, e.col), (1, 2, 0));
}

#[test]
fn errors_name_the_record_they_are_in() {
    let wide = format!("a,b\n1,2\n{}\n", vec!["c"; MAX_COLUMNS + 1].join(","));
    let e = rows(wide.as_bytes()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TooManyColumns));
    assert_eq!((e.row, e.line), (2, 3));
}

#[test]
fn field_positions_follow_quotes() {
    let mut reader = Reader::new(&b"a,b,c\n\"x,1\",\"y\"\"\",z\n"[..]);
    reader.next_record().unwrap();
    let record = reader.next_record().unwrap().unwrap();
    assert_eq!(
        record.position(2),
        (2, 12, "\"x,1\",\"y\"\"\",z".to_owned())
    );
    assert_eq!(record.get(0), Some("x,1"));
}
