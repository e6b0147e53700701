//! The splice fast path of `render::text` gives exactly the bytes minijinja gives, for random
//! templates that only interpolate `user` fields and random field values (proptest).

use std::sync::Arc;

use herald::render::text::{Compiler, Globals, Text};
use herald::render::{Recipient, UserFields};
use minijinja::value::Value as JValue;
use proptest::prelude::*;

/// A piece of a template: literal text (no template syntax) or `{{ user.fN }}` with spacing.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,.!?é€\\n\\-_:/]{0,12}",
        (0usize..3, "[ ]{0,2}", "[ ]{0,2}")
            .prop_map(|(f, a, b)| format!("{{{{{a}user.f{f}{b}}}}}")),
    ]
}

fn globals() -> Globals {
    Globals {
        vars: JValue::from(minijinja::value::Serde(
            serde_json::json!({"brand": "Acme"}),
        )),
        campaign: minijinja::context! { name => "c" },
        now: JValue::from("2026-12-01T00:00:00Z"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn splicing_equals_minijinja(
        pieces in proptest::collection::vec(piece(), 1..6),
        values in proptest::collection::vec("[a-zA-Z0-9 {}%#<>&\"'\\n€]{0,10}", 3),
    ) {
        let source: String = pieces.concat();
        prop_assume!(source.contains("{{"));
        let mut compiler = Compiler::new(globals());
        let text = compiler.compile(&source, true).expect("compiles");
        prop_assert!(matches!(text, Text::Splice { .. }), "not spliced: {source:?}");
        let renderer = compiler.finish();

        let columns: Arc<[String]> = ["phone", "f0", "f1", "f2"].iter().map(|c| c.to_string()).collect();
        let mut record = csv::StringRecord::new();
        record.push_field("+919019486731");
        for v in &values {
            record.push_field(v);
        }
        let recipient = Recipient {
            phone: "+919019486731".into(),
            fields: Arc::new(UserFields::row(columns, &record)),
        };
        let spliced = renderer.render(&text, &recipient).expect("renders").into_owned();

        let mut env = herald::validate::jinja_environment();
        env.set_syntax(minijinja::syntax::SyntaxConfig::builder().keep_trailing_newline(true).build().unwrap());
        let user: std::collections::BTreeMap<String, String> = [
            ("phone".to_owned(), "+919019486731".to_owned()),
            ("f0".to_owned(), values[0].clone()),
            ("f1".to_owned(), values[1].clone()),
            ("f2".to_owned(), values[2].clone()),
        ]
        .into();
        let expected = env
            .render_str(&source, minijinja::context! { user => user })
            .expect("minijinja renders");
        prop_assert_eq!(spliced, expected);
    }
}
