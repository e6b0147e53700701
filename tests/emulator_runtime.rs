//! The emulator at run time over real loopback HTTP: the record and its inspection endpoints,
//! durability across restarts, every fault, and the binary's start, logs without the key and
//! clean exit on SIGINT.

mod emulator_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use emulator_support::*;
use herald::emulator::{self, BUILTIN_API_KEY, Config, Faults, Seed};
use herald::engati::api::paths;
use serde_json::{Value, json};

#[tokio::test]
async fn inspection_endpoints_list_count_and_reset() {
    let emu = emulator().await;
    for phone in [JOHN, JOHN, "+14155552671"] {
        let (status, _) = post(&emu, &template_path(), &invoice(phone)).await;
        assert_eq!(status, 200);
    }
    let response = client()
        .get(url(&emu, "/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let listed: Vec<emulator::RecordedRequest> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed, emu.requests());
    assert_eq!(listed.len(), 3);
    let counts: Value = client()
        .get(url(&emu, "/_emulator/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts.to_string(),
        r#"{"+14155552671":1,"+919019486731":2}"#
    );

    let response = client()
        .delete(url(&emu, "/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert!(emu.requests().is_empty());
    assert!(emu.counts().is_empty());
    let (_, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(
        body["data"]["messages"][0]["id"], "wamid.1",
        "numbering restarts"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_is_durable_and_written_before_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: Some(dir.path().join("data")),
        ..Config::local(Seed::builtin())
    };
    let emu = emulator::start(config()).await.unwrap();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..40 {
        let target = url(&emu, &template_path());
        let data = dir.path().join("data");
        sends.spawn(async move {
            let phone = format!("+9190194867{i:02}");
            let response = client()
                .post(target)
                .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
                .json(&invoice(&phone))
                .send()
                .await
                .unwrap();
            let (_, body) = read(response).await;
            // The answer has arrived: its record must already be in the file.
            let seq = body["data"]["messages"][0]["id"].as_str().unwrap()[6..].to_owned();
            let file = log_file(&data);
            assert!(
                file.lines()
                    .any(|l| l.starts_with(&format!("{{\"seq\":{seq},"))),
                "record {seq} is not in the file yet"
            );
        });
    }
    while let Some(result) = sends.join_next().await {
        result.unwrap();
    }
    let before = emu.requests();
    let counts = emu.counts();
    assert_eq!(before.len(), 40);
    emu.shutdown().await;

    // A crash in the middle of a write leaves a partial last line; it is dropped on restart.
    let path = dir.path().join("data").join(emulator::LOG_FILE);
    let mut torn = std::fs::read(&path).unwrap();
    torn.extend_from_slice(b"{\"seq\":41,\"meth");
    std::fs::write(&path, torn).unwrap();

    let emu = emulator::start(config()).await.unwrap();
    assert_eq!(emu.requests(), before);
    assert_eq!(emu.counts(), counts);
    let (_, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(body["data"]["messages"][0]["id"], "wamid.41");
    assert_eq!(log_file(&dir.path().join("data")).lines().count(), 41);
    let response = client()
        .delete(url(&emu, "/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        log_file(&dir.path().join("data")),
        "",
        "reset truncates the file"
    );
    emu.shutdown().await;

    std::fs::write(&path, "not json\n").unwrap();
    let error = emulator::start(config()).await.unwrap_err();
    assert!(
        error.to_string().contains("line 1 is not a request record"),
        "{error}"
    );
}

#[tokio::test]
async fn refusal_faults_429_500_1002_are_not_recorded() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        rate_limit: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let response = client()
        .post(url(&emu, &template_path()))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(&invoice(JOHN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");

    emu.set_faults(Faults {
        server_error: 1.0,
        ..Faults::default()
    });
    let (status, body) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!((status, code(&body)), (500, 2000));

    emu.set_faults(Faults {
        outside_window: 1.0,
        ..Faults::default()
    });
    let (status, body) = post(&emu, &paths::broadcast_v1(CUSTOMER, BOT), &broadcast_v1()).await;
    assert_eq!((status, code(&body)), (200, 1002), "{body}");
    // 1002 is about messages: reads are unaffected.
    let history = paths::conversations(CUSTOMER, BOT, "919019486731");
    let (status, body) = get(&emu, &history, &[]).await;
    assert_eq!((status, code(&body)), (200, 1000));
    assert_eq!(emu.requests().len(), 1);
    assert!(emu.counts().is_empty());

    // Over HTTP: the same fields; absent ones are 0, bad ones refused.
    let faults = url(&emu, "/_emulator/faults");
    let response = client()
        .put(&faults)
        .json(&json!({"latency_ms": 150, "seed": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let now: Faults = client()
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        now,
        Faults {
            latency_ms: 150,
            seed: Some(3),
            ..Faults::default()
        }
    );
    let started = Instant::now();
    let (status, _) = post(&emu, &template_path(), &invoice(JOHN)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    for bad in [
        json!({"hang": 2.0}),
        json!({"rate_limt": 0.1}),
        json!({"rate_limit": 0.7, "server_error": 0.7}),
    ] {
        let response = client().put(&faults).json(&bad).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{bad}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn hang_and_drop_faults_record_the_request_but_never_answer() {
    let emu = emulator().await;
    emu.set_faults(Faults {
        hang: 1.0,
        ..Faults::default()
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = impatient
        .post(url(&emu, &template_path()))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(&invoice(JOHN))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(emu.requests().len(), 1, "a hung request was accepted");

    emu.set_faults(Faults {
        drop_after_processing: 1.0,
        ..Faults::default()
    });
    let error = client()
        .post(url(&emu, &template_path()))
        .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
        .json(&invoice("+14155552671"))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(emu.requests().len(), 2, "a dropped request was accepted");
    assert_eq!(emu.counts()["+14155552671"], 1);

    // A hung request does not hold up shutdown.
    emu.set_faults(Faults {
        hang: 1.0,
        ..Faults::default()
    });
    let target = url(&emu, &template_path());
    let waiting = tokio::spawn(async move {
        client()
            .post(target)
            .header("Authorization", format!("Basic {BUILTIN_API_KEY}"))
            .json(&invoice(JOHN))
            .send()
            .await
    });
    while emu.requests().len() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    emu.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(waiting.await.unwrap().is_err());
}

#[tokio::test]
async fn the_binary_starts_logs_without_the_key_and_exits_cleanly_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["emulator", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let startup = started.elapsed();
    let base = first
        .trim()
        .strip_prefix("herald emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    assert!(startup < Duration::from_secs(2), "started in {startup:?}");

    for key in [BUILTIN_API_KEY, "emulator-revoked-key"] {
        let response = client()
            .post(format!("{base}{}", template_path()))
            .header("Authorization", format!("Basic {key}"))
            .json(&invoice(JOHN))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            if key == BUILTIN_API_KEY { 200 } else { 403 }
        );
    }
    let revoke = format!("{base}/_emulator/keys/{BUILTIN_API_KEY}/revoke");
    assert_eq!(
        client()
            .post(revoke)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit within 5 s of SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "{exit:?}");
    let logs = stderr.join().unwrap();
    let template_lines = logs
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains(&format!("POST {}", template_path())))
        .count();
    assert_eq!(template_lines, 2, "{logs}");
    assert!(logs.contains(" 403 "), "{logs}");
    assert!(
        logs.contains("POST /_emulator/keys/{key}/revoke 204"),
        "{logs}"
    );
    assert!(
        !logs.contains("emulator-key") && !logs.contains("emulator-revoked-key"),
        "{logs}"
    );
    assert!(!logs.contains("Basic"), "{logs}");
    assert_eq!(log_file(dir.path()).lines().count(), 1);
}
