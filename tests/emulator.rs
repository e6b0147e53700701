//! The emulator's Engati API over real loopback HTTP: every endpoint, auth, lookups, the
//! strict checks (their error bodies are snapshotted) and paging. The record, faults and the
//! binary are tested in emulator_runtime.rs.

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::*;
use herald::emulator::{self, BUILTIN_API_KEY, Config, Seed};
use herald::engati::api::{TemplateMessage, paths};
use herald::model::TriggerApi;
use serde_json::{Value, json};

#[tokio::test]
async fn every_endpoint_answers_success_and_is_recorded() {
    let emu = emulator().await;
    let (status, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    assert_eq!(body["data"]["messages"][0]["id"], "wamid.1");
    let offer = TemplateMessage {
        phone_number: "+447700900123".to_owned(),
        payload: offer_template(),
    };
    let (status, body) = post(&emu, &template_path(), &offer).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");

    let (status, body) = post(&emu, &paths::broadcast_v1(CUSTOMER, BOT), &broadcast_v1()).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    let v2 = broadcast_v2(&[JOHN, "+14155552671"]);
    let (status, body) = post(&emu, &paths::broadcast_v2(CUSTOMER, BOT), &v2).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");

    let trigger_v2 = paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2);
    let attributes = json!({"user.channel": "whatsapp", "user.phone_no": "+919178921978", "user.user_name": "Jahnavi"});
    let (status, body) = post(&emu, &trigger_v2, &attributes).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    let trigger_v1 = paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V1);
    let response = client()
        .post(url(&emu, &trigger_v1))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .query(&[("user.phone_no", JOHN), ("user.user_name", "John")])
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");

    let users = paths::users(CUSTOMER, BOT);
    let query = [("attribute_name", "opt1"), ("attribute_value", "yes")];
    let (status, body) = get(&emu, &users, &query).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    assert_eq!(body["data"]["users"].as_array().unwrap().len(), 6);
    let conversations = paths::conversations(CUSTOMER, BOT, "919019486731");
    let (status, body) = get(&emu, &conversations, &[]).await;
    assert_eq!((status, code(&body)), (200, 1000), "{body}");
    assert_eq!(body["data"]["conversations"][0]["messageType"], "TEXT");

    let requests = emu.requests();
    let seqs: Vec<u64> = requests.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    assert_eq!(requests[0].path, template_path());
    assert_eq!(requests[0].phones, [JOHN]);
    assert_eq!(
        requests[0].body.as_ref().unwrap()["payload"]["name"],
        "invoice_reminder"
    );
    assert_eq!(requests[5].method, "POST");
    assert_eq!(requests[5].body, None);
    assert_eq!(
        requests[5].query[1],
        ("user.user_name".to_owned(), "John".to_owned())
    );
    assert_eq!(requests[6].method, "GET");
    assert!(requests[6].phones.is_empty());
    let received = &requests[0].received_at;
    assert!(received.ends_with('Z') && received.parse::<jiff::Timestamp>().is_ok());
    let counts = emu.counts();
    let expected: BTreeMap<String, u64> = [
        (JOHN, 4),
        ("+14155552671", 1),
        ("+447700900123", 1),
        ("+919178921978", 2),
    ]
    .into_iter()
    .map(|(p, n)| (p.to_owned(), n))
    .collect();
    assert_eq!(counts, expected);
    emu.shutdown().await;
}

#[tokio::test]
async fn auth_missing_and_wrong_keys_are_401_revoked_keys_403() {
    let emu = emulator().await;
    let target = url(&emu, &template_path());
    let send = |key: Option<&str>| {
        let mut request = client().post(&target).json(&invoice(JOHN));
        if let Some(key) = key {
            request = request.header("Authorization", key.to_owned());
        }
        async move { read(request.send().await.unwrap()).await }
    };
    let (status, body) = send(None).await;
    assert_eq!((status, code(&body)), (401, 2000), "{body}");
    let (status, _) = send(Some("Basic wrong-key")).await;
    assert_eq!(status, 401);
    // base64("emulator-key"): Engati takes the key as-is, not base64-encoded.
    let (status, _) = send(Some("Basic ZW11bGF0b3Ita2V5")).await;
    assert_eq!(status, 401);
    let (status, _) = send(Some("Bearer emulator-key")).await;
    assert_eq!(status, 401);
    let (status, body) = send(Some("Basic emulator-revoked-key")).await;
    assert_eq!((status, code(&body)), (403, 2000), "{body}");

    let (status, _) = send(Some("Basic emulator-key")).await;
    assert_eq!(status, 200);
    emu.revoke_key(BUILTIN_API_KEY);
    let (status, body) = send(Some("Basic emulator-key")).await;
    assert_eq!((status, code(&body)), (403, 2000), "{body}");
    assert_eq!(emu.requests().len(), 1, "refused calls are not recorded");
    emu.shutdown().await;
}

#[tokio::test]
async fn keys_are_revoked_over_http_and_may_be_scoped_to_a_customer() {
    let mut seed = Seed::builtin();
    seed.keys.push(emulator::seed::SeedKey {
        key: "other-customer-key".to_owned(),
        customer: Some(70000),
        revoked: false,
    });
    seed.customers.push(emulator::seed::SeedCustomer {
        id: 70000,
        name: None,
        bots: Vec::new(),
    });
    let emu = emulator::start(Config::local(seed)).await.unwrap();
    let response = client()
        .post(url(&emu, &template_path()))
        .header("Authorization", "Basic other-customer-key")
        .json(&invoice(JOHN))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!((status, code(&body)), (403, 2000), "{body}");

    let revoke = url(&emu, &format!("/_emulator/keys/{BUILTIN_API_KEY}/revoke"));
    let response = client().post(&revoke).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, _) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(status, 403);
    let unknown = url(&emu, "/_emulator/keys/no-such-key/revoke");
    let response = client().post(&unknown).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_customer_bot_flow_and_missing_whatsapp() {
    let emu = emulator().await;
    let (status, body) = post(&emu, &paths::template(99999, BOT), &invoice(JOHN)).await;
    assert_eq!((status, code(&body)), (404, 2000), "{body}");
    let (status, body) = post(
        &emu,
        &paths::template(CUSTOMER, "0000000000000000"),
        &invoice(JOHN),
    )
    .await;
    assert_eq!((status, code(&body)), (200, 2003), "{body}");
    let (status, body) = post(
        &emu,
        &paths::template(CUSTOMER, NO_WHATSAPP_BOT),
        &invoice(JOHN),
    )
    .await;
    assert_eq!((status, code(&body)), (200, 2004), "{body}");
    let v2 = broadcast_v2(&[JOHN]);
    let (status, body) = post(&emu, &paths::broadcast_v2(CUSTOMER, NO_WHATSAPP_BOT), &v2).await;
    assert_eq!((status, code(&body)), (200, 2004), "{body}");
    let flow = paths::trigger(CUSTOMER, BOT, "no_such_flow", TriggerApi::V2);
    let (status, body) = post(&emu, &flow, &json!({"user.phone_no": JOHN})).await;
    assert_eq!((status, code(&body)), (404, 2000), "{body}");
    let response = client()
        .get(url(&emu, "/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = client()
        .get(url(&emu, &template_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert!(emu.requests().is_empty());
    emu.shutdown().await;
}

/// A valid invoice message as JSON, changed by `edit`.
fn invoice_json(edit: impl FnOnce(&mut Value)) -> Value {
    let mut value = serde_json::to_value(invoice(JOHN)).unwrap();
    edit(&mut value);
    value
}

#[tokio::test]
async fn invalid_requests_get_400_with_a_clear_message() {
    let emu = emulator().await;
    let template = template_path();
    let components = |v: &mut Value| v["payload"]["components"].as_array_mut().unwrap().clone();
    let post_cases: Vec<(&str, String, Value)> = vec![
        (
            "unknown-field",
            template.clone(),
            invoice_json(|v| v["phone"] = json!(JOHN)),
        ),
        (
            "missing-field",
            template.clone(),
            invoice_json(|v| {
                v.as_object_mut().unwrap().remove("phoneNumber");
            }),
        ),
        (
            "wrong-type",
            template.clone(),
            invoice_json(|v| v["phoneNumber"] = json!(919019486731u64)),
        ),
        (
            "phone-not-e164",
            template.clone(),
            invoice_json(|v| v["phoneNumber"] = json!("919019486731")),
        ),
        (
            "unknown-template",
            template.clone(),
            invoice_json(|v| v["payload"]["name"] = json!("invoice_remindr")),
        ),
        (
            "wrong-language",
            template.clone(),
            invoice_json(|v| v["payload"]["language"]["code"] = json!("hi")),
        ),
        (
            "wrong-policy",
            template.clone(),
            invoice_json(|v| v["payload"]["language"]["policy"] = json!("fallback")),
        ),
        (
            "wrong-namespace",
            template.clone(),
            invoice_json(|v| v["payload"]["namespace"] = json!("x")),
        ),
        (
            "body-param-count",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][1]["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
        ),
        (
            "body-param-newline",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][1]["parameters"][0]["text"] = json!("John\nDoe");
            }),
        ),
        (
            "header-type-mismatch",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][0]["parameters"][0] =
                    json!({"type": "image", "image": {"link": "https://cdn.example/a.png"}});
            }),
        ),
        (
            "header-missing",
            template.clone(),
            invoice_json(|v| {
                let mut c = components(v);
                c.remove(0);
                v["payload"]["components"] = json!(c);
            }),
        ),
        (
            "header-link-not-url",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][0]["parameters"][0]["document"]["link"] =
                    json!("cdn/a.pdf");
            }),
        ),
        (
            "button-count",
            template.clone(),
            invoice_json(|v| {
                let mut c = components(v);
                c.pop();
                v["payload"]["components"] = json!(c);
            }),
        ),
        (
            "button-sub-type",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][3]["sub_type"] = json!("url");
            }),
        ),
        (
            "button-index-twice",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][3]["index"] = json!(0);
            }),
        ),
        (
            "button-unknown-flow",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][2]["parameters"][0]["payload"] =
                    json!("flow_deadbeef||data_x=y");
            }),
        ),
        (
            "unknown-component",
            template.clone(),
            invoice_json(|v| {
                v["payload"]["components"][0]["type"] = json!("footer");
            }),
        ),
        (
            "broadcast-v1-channel-user-id",
            paths::broadcast_v1(CUSTOMER, BOT),
            {
                let mut b = serde_json::to_value(broadcast_v1()).unwrap();
                b["audience"]["rule"]["channelUserIds"][1] = json!("+919178921978");
                b
            },
        ),
        (
            "broadcast-v1-published-on",
            paths::broadcast_v1(CUSTOMER, BOT),
            {
                let mut b = serde_json::to_value(broadcast_v1()).unwrap();
                b["publishedOn"] = json!("tomorrow");
                b
            },
        ),
        (
            "broadcast-v2-phone",
            paths::broadcast_v2(CUSTOMER, BOT),
            serde_json::to_value(broadcast_v2(&[JOHN, "+91 98450 12345"])).unwrap(),
        ),
        (
            "broadcast-v2-body-count",
            paths::broadcast_v2(CUSTOMER, BOT),
            {
                let mut b = serde_json::to_value(broadcast_v2(&[JOHN])).unwrap();
                b["payload"]["content"][0]["template"]["components"][1]["parameters"] = json!([]);
                b
            },
        ),
        (
            "trigger-no-user",
            paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2),
            json!({"user.channel": "whatsapp", "user.user_name": "John"}),
        ),
        (
            "trigger-not-string",
            paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2),
            json!({"user.phone_no": JOHN, "age": 42}),
        ),
        (
            "trigger-not-object",
            paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V2),
            json!(["user.phone_no", JOHN]),
        ),
    ];
    let mut answers = Vec::new();
    for (case, path, body) in post_cases {
        let (status, body) = post(&emu, &path, &body).await;
        answers.push(json!({"case": case, "status": status, "body": body}));
    }
    let raw_cases = [
        (
            "malformed-json",
            "application/json",
            "{\"phoneNumber\": \"+919019486731\", ",
        ),
        ("empty-body", "application/json", ""),
        ("wrong-content-type", "text/plain", "{}"),
    ];
    for (case, content_type, body) in raw_cases {
        let response = client()
            .post(url(&emu, &template))
            .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        answers.push(json!({"case": case, "status": status, "body": body}));
    }
    let users = paths::users(CUSTOMER, BOT);
    type GetCase<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let get_cases: Vec<GetCase> = vec![
        (
            "users-no-attribute",
            users.clone(),
            vec![("attribute_value", "yes")],
        ),
        (
            "users-unknown-param",
            users.clone(),
            vec![
                ("attribute_name", "opt1"),
                ("attribute_value", "yes"),
                ("pageSize", "2"),
            ],
        ),
        (
            "users-page-size",
            users.clone(),
            vec![
                ("attribute_name", "opt1"),
                ("attribute_value", "yes"),
                ("page_size", "5000"),
            ],
        ),
        (
            "users-page-number",
            users,
            vec![
                ("attribute_name", "opt1"),
                ("attribute_value", "yes"),
                ("page_number", "-1"),
            ],
        ),
        (
            "conversations-bad-id",
            paths::conversations(CUSTOMER, BOT, "+919019486731"),
            vec![],
        ),
        (
            "conversations-bad-date",
            paths::conversations(CUSTOMER, BOT, "919019486731"),
            vec![("start_date", "2025-11-20")],
        ),
    ];
    for (case, path, query) in get_cases {
        let (status, body) = get(&emu, &path, &query).await;
        answers.push(json!({"case": case, "status": status, "body": body}));
    }
    let trigger_v1 = paths::trigger(CUSTOMER, BOT, FLOW, TriggerApi::V1);
    let response = client()
        .post(url(&emu, &trigger_v1))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .query(&[("user.phone_no", "09019486731")])
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    answers.push(json!({"case": "trigger-v1-bad-phone", "status": status, "body": body}));

    for answer in &answers {
        let status = answer["status"].as_u64().unwrap();
        assert!(matches!(status, 400 | 415), "{answer}");
        assert_eq!(code(&answer["body"]), 2000, "{answer}");
    }
    assert!(
        emu.requests().is_empty(),
        "refused requests are not recorded"
    );
    insta::assert_json_snapshot!("validation_errors", answers);
    emu.shutdown().await;
}

#[tokio::test]
async fn users_and_conversations_are_paged() {
    let emu = emulator().await;
    let users = paths::users(CUSTOMER, BOT);
    let mut phones = Vec::new();
    for page in ["0", "1", "2", "3"] {
        let query = [
            ("attribute_name", "opt1"),
            ("attribute_value", "yes"),
            ("page_number", page),
            ("page_size", "2"),
        ];
        let (status, body) = get(&emu, &users, &query).await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        assert_eq!(
            (data["pageSize"].as_u64(), data["totalPages"].as_u64()),
            (Some(2), Some(3))
        );
        assert_eq!(data["pageNumber"], page.parse::<u64>().unwrap());
        for user in data["users"].as_array().unwrap() {
            assert_eq!(user["attributes"]["opt1"], "yes");
            phones.push(user["phoneNumber"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        phones,
        [
            "+919019486731",
            "+919178921978",
            "+14155552671",
            "+919900112233",
            "+919886655443",
            "+447700900123"
        ]
    );
    let query = [("attribute_name", "opt1"), ("attribute_value", "maybe")];
    let (_, body) = get(&emu, &users, &query).await;
    assert_eq!(body["data"]["users"], json!([]));
    assert_eq!(body["data"]["totalPages"], 0);

    let history = paths::conversations(CUSTOMER, BOT, "919019486731");
    let (_, body) = get(&emu, &history, &[]).await;
    assert_eq!(body["data"]["pageSize"], 500);
    assert_eq!(body["data"]["conversations"].as_array().unwrap().len(), 5);
    let (_, body) = get(&emu, &history, &[("page_number", "1"), ("page_size", "2")]).await;
    let texts: Vec<&str> = body["data"]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["12345", "invoice-12345.pdf"]);
    assert_eq!(body["data"]["totalPages"], 3);
    // 2025-11-20T09:31:00Z to 2025-11-21T00:00:00Z: the two messages of 09:31.
    let window = [
        ("start_date", "1763631060000"),
        ("end_date", "1763683200000"),
        ("end_date_x", ""),
    ];
    let (status, _) = get(&emu, &history, &window).await;
    assert_eq!(status, 400, "unknown parameters are refused");
    let (_, body) = get(&emu, &history, &window[..2]).await;
    assert_eq!(body["data"]["conversations"].as_array().unwrap().len(), 2);
    let (_, body) = get(&emu, &history, &[("start_date", ""), ("end_date", "")]).await;
    assert_eq!(
        body["data"]["conversations"].as_array().unwrap().len(),
        5,
        "blank = all"
    );
    let stranger = paths::conversations(CUSTOMER, BOT, "919999999999");
    let (status, body) = get(&emu, &stranger, &[]).await;
    assert_eq!((status, &body["data"]["conversations"]), (200, &json!([])));
    emu.shutdown().await;
}

#[test]
fn seed_files_are_read_as_yaml_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yaml");
    std::fs::write(
        &path,
        "keys: [{key: k1}]\ncustomers:\n  - id: 5\n    bots:\n      - key: 00000000000000aa\n        whatsapp: false\n",
    )
    .unwrap();
    let seed = Seed::from_file(&path).unwrap();
    assert_eq!(seed.customers[0].bots[0].key, "00000000000000aa");
    std::fs::write(&path, "keys: [{key: k1, customer: 6}]\n").unwrap();
    let error = Seed::from_file(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        "seed: keys[0].customer: customer 6 is not in the seed"
    );
    let error = Seed::from_file(&dir.path().join("missing.yaml")).unwrap_err();
    assert!(
        error.to_string().starts_with("cannot read seed file"),
        "{error}"
    );
}
