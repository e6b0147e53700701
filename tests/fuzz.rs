//! Fuzzing the parsers that read untrusted bytes: the YAML loader and the CSV reader.
//!
//! Each property runs a fixed budget of cases in every `cargo test` (`FUZZ_CASES`, default
//! 2,000; CI runs the default): arbitrary bytes, and text shaped like the format with its
//! delimiters, quotes and line ends over-represented. Whatever the input, the parsers answer
//! with values or positioned errors, never a panic; the CSV reader also gives the same answer
//! however its input is split into reads, and, for text without quotes, exactly the rows a
//! naive split gives.

use std::io::Read;

use herald::diagnostic::SourceText;
use herald::load::csv::{Error, Reader};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // A failure is shrunk, printed and fixed; it need not be kept in a file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made of YAML's structural pieces.
fn yaml_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "b: ",
        ":",
        "- ",
        "  ",
        "\n",
        "{",
        "}",
        "[",
        "]",
        ", ",
        "\"",
        "'",
        "&x ",
        "*x",
        "!!str ",
        "!t ",
        "? ",
        "|\n",
        ">-\n",
        "#c\n",
        "---\n",
        "...\n",
        "<<: *x\n",
        "\t",
        "\\",
        "é",
        "\u{feff}",
        "{{ user.x }}",
        "0x1F",
        "~",
        "null",
        "1e9",
    ]);
    prop::collection::vec(pieces, 0..200).prop_map(|p| p.concat())
}

/// Text made of CSV's pieces.
fn csv_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "phone",
        "+919019486731",
        "a",
        "bc",
        ",",
        ",",
        "\"",
        "\"\"",
        "\n",
        "\r\n",
        "\r",
        " ",
        "é",
        "\u{feff}",
    ]);
    prop::collection::vec(pieces, 0..120).prop_map(|p| p.concat())
}

/// A reader that hands out a few bytes at a time, so records cross every read boundary.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// Every record (line and fields) up to the first error, and that error's kind and place.
type Outcome = (Vec<(u64, Vec<String>)>, Option<(String, u64, usize)>);

fn read_all(input: impl Read) -> Outcome {
    let mut reader = Reader::new(input);
    let mut records = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(r)) => records.push((r.line(), r.iter().map(str::to_owned).collect())),
            Ok(None) => return (records, None),
            Err(Error {
                kind, line, col, ..
            }) => return (records, Some((format!("{kind:?}"), line, col))),
        }
    }
}

/// The lines of a text as YAML and CSV count them: ended by `\n`, `\r\n` or a lone `\r`.
fn lines(bytes: &[u8]) -> usize {
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    breaks + 1
}

fn check_yaml(text: &str) -> Result<(), TestCaseError> {
    let source = SourceText::new(text.into(), 1);
    let lines = lines(text.as_bytes());
    let (docs, problems) = herald::load::yaml::parse("fuzz.yaml", &source);
    for p in &problems {
        prop_assert!(p.line() >= 1 && p.line() <= lines, "{p:?} in {lines} lines");
    }
    for doc in &docs {
        // The JSON the schema check sees can always be made.
        let _ = doc.to_json();
    }
    Ok(())
}

fn check_csv(bytes: &[u8]) -> Result<(), TestCaseError> {
    let whole = read_all(bytes);
    let lines = lines(bytes) as u64;
    for (line, _) in &whole.0 {
        prop_assert!(*line >= 1 && *line <= lines);
    }
    if let Some((_, line, _)) = &whole.1 {
        prop_assert!(*line >= 1 && *line <= lines, "error line {line} of {lines}");
    }
    // Lines only go forward.
    prop_assert!(whole.0.windows(2).all(|w| w[0].0 < w[1].0));
    for step in [1, 2, 3, 7] {
        let split = read_all(Trickle { bytes, step });
        prop_assert_eq!(&split, &whole, "reads of {} bytes", step);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_yaml_loader_answers_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_yaml(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn the_yaml_loader_answers_yaml_like_text(text in yaml_like()) {
        check_yaml(&text)?;
    }

    #[test]
    fn the_csv_reader_answers_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_csv(&bytes)?;
    }

    #[test]
    fn the_csv_reader_answers_csv_like_text(text in csv_like()) {
        check_csv(text.as_bytes())?;
    }

    /// Without quotes (and without a BOM or lone CRs), CSV is lines split at commas: the reader
    /// must give exactly that, with blank lines skipped and real line numbers.
    #[test]
    fn unquoted_csv_is_lines_split_at_commas(
        rows in prop::collection::vec(prop::collection::vec("[a-z0-9+ ]{0,6}", 2), 0..30),
        crlf in any::<bool>(),
        blank_every in 2usize..6,
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut line = 1u64;
        for (i, row) in rows.iter().enumerate() {
            if i % blank_every == 1 {
                text.push_str(end);
                line += 1;
            }
            let joined = row.join(",");
            if !joined.is_empty() {
                expected.push((line, row.clone()));
            }
            text.push_str(&joined);
            text.push_str(end);
            line += 1;
        }
        // A row whose every field is empty is a line of commas, not a blank line.
        let (records, error) = read_all(text.as_bytes());
        prop_assert_eq!(error, None);
        prop_assert_eq!(records, expected);
    }
}
