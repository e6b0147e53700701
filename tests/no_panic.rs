//! Whatever bytes a user saves, `validate` answers with diagnostics: never a panic or a hang.
//!
//! The example project's files are mutated at random (bytes flipped, lines dropped, duplicated or
//! swapped, characters inserted) and validated in-process.

use std::path::Path;

use proptest::prelude::*;

const FILES: [&str; 7] = [
    "herald.yaml",
    "pricing.yaml",
    "campaigns/templates.yaml",
    "campaigns/audiences.yaml",
    "campaigns/invoice-reminders.yaml",
    "campaigns/broadcasts.yaml",
    "campaigns/triggers.yaml",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(usize, u8),
    Insert(usize, &'static str),
    DropLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragments = prop::sample::select(vec![
        ":", "- ", "{", "}", "[", "]", "\"", "'", "\t", "&a ", "*a", "!!str ", "{{", "}}", "{%",
        "\n  ", "#", "? ", "---\n", "|\n", "~", "<<: *a\n", "\u{feff}", "é", "0x1F", ".inf",
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        (any::<usize>(), fragments).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::FlipByte(i, b) => {
                if !bytes.is_empty() {
                    bytes[i % len] = *b;
                }
            }
            Mutation::Insert(i, s) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, s.bytes());
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::DropLine(i) | Mutation::DuplicateLine(i) | Mutation::SwapLines(i, _) => {
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                let n = lines.len();
                match m {
                    Mutation::DropLine(_) => {
                        lines.remove(i % n);
                    }
                    Mutation::DuplicateLine(_) => {
                        let line = lines[i % n].clone();
                        lines.insert(i % n, line);
                    }
                    Mutation::SwapLines(_, j) => lines.swap(i % n, j % n),
                    _ => unreachable!(),
                }
                bytes = lines.join(&b'\n');
            }
        }
    }
    bytes
}

fn copy_example(to: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["campaigns", "audiences"] {
        std::fs::create_dir_all(to.join(dir)).unwrap();
    }
    for file in FILES
        .iter()
        .chain(&["audiences/vip.csv", "audiences/unsubscribed.csv"])
    {
        std::fs::copy(repo.join(file), to.join(file)).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_give_diagnostics_not_panics(
        file in 0..FILES.len(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        copy_example(dir.path());
        let path = dir.path().join(FILES[file]);
        let original = std::fs::read(&path).unwrap();
        std::fs::write(&path, apply(&original, &mutations)).unwrap();

        let loaded = herald::load::load(dir.path()).unwrap();
        let validated = herald::validate::validate(&loaded, &herald::validate::Options::default());
        // Rendering must not panic either, in both formats.
        let human = herald::output::diagnostics::human(
            &validated.diagnostics,
            herald::output::diagnostics::Style::Plain,
        );
        let json = herald::output::diagnostics::json(&validated.diagnostics);
        prop_assert!(!human.is_empty());
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(parsed.as_array().map(Vec::len), Some(validated.diagnostics.len()));
        for d in &validated.diagnostics {
            prop_assert!(d.line() >= 1 && d.column() >= 1);
        }
    }
}
