//! The splice fast path of `render::text` gives exactly the bytes minijinja gives, for random
//! templates that only interpolate `user` fields and random field values (proptest).

use std::sync::Arc;

use herald::fingerprint::Fingerprint;
use herald::render::text::{Compiler, Globals, Text};
use herald::render::{Recipient, UserFields};
use minijinja::value::Value as JValue;
use proptest::prelude::*;

/// A piece of a template: literal text (no template syntax) or `{{ user.fN }}` with spacing,
/// possibly through a case filter (`{{ user.f1 | title }}`).
fn piece() -> impl Strategy<Value = String> {
    let filter = prop_oneof!["", "[ ]{0,1}\\|[ ]{0,1}(title|upper|lower)"];
    prop_oneof![
        "[a-zA-Z0-9 ,.!?é€\\n\\-_:/]{0,12}",
        (0usize..3, "[ ]{0,2}", filter, "[ ]{0,2}")
            .prop_map(|(f, a, filter, b)| format!("{{{{{a}user.f{f}{filter}{b}}}}}")),
    ]
}

/// A CSV row's fields: the phone, then `values`.
fn row(columns: Arc<[String]>, phone: &str, values: &[String]) -> UserFields {
    let mut text = phone.to_owned();
    let mut ends = vec![text.len()];
    for v in values {
        text.push_str(v);
        ends.push(text.len());
    }
    UserFields::row(columns, &text, &ends)
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
        values in proptest::collection::vec("[a-zA-Z0-9 {}%#<>&\"'\\n€éÉßİΣσς(\\-]{0,10}", 3),
    ) {
        let source: String = pieces.concat();
        prop_assume!(source.contains("{{"));
        let mut budget = herald::jinja::Budget::plan();
        let mut compiler = Compiler::new(globals(), &mut budget);
        let text = compiler.compile(&source, true).expect("compiles");
        prop_assert!(matches!(text, Text::Splice { .. }), "not spliced: {source:?}");
        let renderer = compiler.finish();

        let columns: Arc<[String]> = ["phone", "f0", "f1", "f2"].iter().map(std::string::ToString::to_string).collect();
        let recipient = Recipient {
            phone: "+919019486731".into(),
            fields: Arc::new(row(columns, "+919019486731", &values)),
        };
        let spliced = renderer.render(&text, &recipient).expect("renders").into_owned();

        let mut env = herald::jinja::environment();
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

/// A template campaign whose every kind of parameter reads a field.
fn invoice_project() -> (tempfile::TempDir, herald::render::CampaignRender) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.yaml"),
        "api: {base_url: \"https://api.engati.ai\", customer_id: 61179, bot_key: bb67e0773bed4c7e, api_key_env: K}\nvars: {brand: \"Acme \\\"Sugar\\\"\"}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("campaigns")).unwrap();
    std::fs::write(
        dir.path().join("people.csv"),
        "phone,f0,f1,f2\n+919019486731,a,b,c\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("campaigns/c.yaml"),
        r#"templates:
  t:
    language: en
    header: document
    body: "Hi {{1}}, {{2}} from {{3}}"
    buttons: [{quick_reply: Yes}, {quick_reply: No}]
campaigns:
  c:
    audience: {csv: ../people.csv}
    send:
      template:
        use: t
        header: {document: {link: "https://x.example/{{ user.f0 }}.pdf", filename: "{{ user.f1 }}"}}
        body: ["{{ user.f0 | upper }}", "{{ user.f2 }}", "{{ vars.brand }}"]
        buttons:
          - {flow: abc, data: {k: "{{ user.f1 }}", z: fixed}}
          - {payload: "p-{{ user.f2 }}"}
"#,
    )
    .unwrap();
    let loaded = herald::load::load(dir.path()).unwrap();
    let validated = herald::validate::validate(&loaded, &herald::validate::Options::default());
    assert!(!validated.has_errors(), "{:?}", validated.diagnostics);
    let catalog = &validated.catalog;
    let api = catalog.settings.as_ref().unwrap().api_for(None);
    let render = herald::render::CampaignRender::compile(
        &catalog.campaigns["c"],
        catalog,
        &api,
        "2026-12-01T00:00:00Z".parse().unwrap(),
        &mut herald::jinja::Budget::plan(),
    )
    .unwrap();
    (dir, render)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Values WhatsApp accepts in every parameter: the two ways of building a request give
    /// the same bytes and fingerprint.
    #[test]
    fn spliced_bodies_equal_serialized_bodies(
        values in proptest::collection::vec("[a-zA-Z0-9\"\\\\/{}<>&é€😀]{1,12}", 3),
        phone in 10_000_000u64..999_999_999_999_999,
    ) {
        let (_dir, render) = invoice_project();
        let recipient = recipient(&phone, &values);
        let spliced = render.message.for_recipient(&recipient).expect("renders");
        let serialized = render.message.for_recipient_unspliced(&recipient).expect("renders");
        prop_assert_eq!(spliced.to_json(), serialized.to_json());
        prop_assert_eq!(spliced.to_json(), serde_json::to_string(&serialized).unwrap());
        // The fingerprint hashed from the skeleton, without building the request, is the
        // hash of the serialized request.
        let mut scratch = Vec::new();
        let draft = render.message.draft(&recipient, &mut scratch).expect("renders");
        let whole = Fingerprint::of(serialized.to_json().as_bytes());
        prop_assert_eq!(draft.fingerprint, whole);
        prop_assert_eq!(serialized.fingerprint(), whole);
    }

    /// Any values, including the spaces, line breaks and control characters WhatsApp refuses:
    /// both ways agree, on the request or on the rule it breaks.
    #[test]
    fn both_ways_agree_on_what_breaks_a_rule(
        values in proptest::collection::vec("[a-zA-Z0-9 |\"\\\\/{}<>&\\n\\t\\u{1}\\u{7f}é€😀]{0,12}", 3),
        phone in 10_000_000u64..999_999_999_999_999,
    ) {
        let (_dir, render) = invoice_project();
        let recipient = recipient(&phone, &values);
        let spliced = render.message.for_recipient(&recipient);
        let serialized = render.message.for_recipient_unspliced(&recipient);
        match (spliced, serialized) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a.to_json(), b.to_json()),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "the two ways disagree: {a:?} / {b:?}"),
        }
    }
}

/// A recipient with the phone `+phone` and the values as fields f0, f1, f2.
fn recipient(phone: &u64, values: &[String]) -> Recipient {
    let columns: Arc<[String]> = ["phone", "f0", "f1", "f2"]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let phone = format!("+{phone}");
    Recipient {
        phone: phone.clone().into(),
        fields: Arc::new(row(columns, &phone, values)),
    }
}
