//! The state URL's TLS settings, read as libpq reads them, against the test server: it offers
//! TLS with a certificate for the name `localhost` only, signed by a throwaway CA whose file
//! `.ci/postgres` exports as HERALD_TEST_POSTGRES_CA.

mod state_support;

use herald::state::StateError;
use herald::state::postgres::PostgresStore;
use state_support::postgres_url;

fn ca() -> String {
    std::env::var("HERALD_TEST_POSTGRES_CA").unwrap_or_else(|_| {
        panic!(
            "HERALD_TEST_POSTGRES_CA is not set: start the test server with \
             `eval \"$(.ci/postgres)\"`, which makes the CA and exports its file"
        )
    })
}

/// The test server's URL with `host` and these query parameters, and an application name
/// this test can find its connection by.
fn url(host: &str, query: &str, name: &str) -> String {
    let base = postgres_url().replacen("127.0.0.1", host, 1);
    let separator = if base.contains('?') { '&' } else { '?' };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("&{query}")
    };
    format!("{base}{separator}application_name={name}{query}")
}

/// Opens the state (reading only: nothing is created) at `url`.
fn open(url: &str) -> Result<PostgresStore, StateError> {
    PostgresStore::open_read_only(url, "tls_check")
}

/// Whether the server sees the connection named `name` as encrypted.
fn encrypted(name: &str) -> bool {
    let mut admin = postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap();
    let row = admin
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&name],
        )
        .unwrap();
    row.get::<_, Option<bool>>(0)
        .unwrap_or_else(|| panic!("no connection named {name}"))
}

fn name(case: &str) -> String {
    format!("herald_tls_{case}_{:08x}", fastrand::u32(..))
}

#[test]
fn verify_full_checks_the_chain_and_the_host_name() {
    let rootcert = format!("sslmode=verify-full&sslrootcert={}", ca());
    let n = name("full");
    let store =
        open(&url("localhost", &rootcert, &n)).expect("localhost is the certificate's name");
    assert!(encrypted(&n));
    drop(store);

    let error = open(&url("127.0.0.1", &rootcert, &name("wrong_name"))).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("not valid for name"), "{text}");
    assert!(
        text.contains("postgres 127.0.0.1:") && text.contains("cannot connect"),
        "{text}"
    );
}

#[test]
fn verify_ca_checks_the_chain_but_not_the_name() {
    let n = name("ca");
    let query = format!("sslmode=verify-ca&sslrootcert={}", ca());
    let _store = open(&url("127.0.0.1", &query, &n)).expect("the chain is trusted");
    assert!(encrypted(&n));
}

#[test]
fn verification_against_the_system_roots_refuses_an_unknown_ca() {
    let error = open(&url("localhost", "sslmode=verify-full", &name("system"))).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[test]
fn prefer_and_require_encrypt_without_checking_as_libpq_does() {
    for (case, query) in [("prefer", ""), ("require", "sslmode=require")] {
        let n = name(case);
        let _store = open(&url("127.0.0.1", query, &n)).expect("connects");
        assert!(encrypted(&n), "{case}");
    }
}

#[test]
fn disable_connects_in_plain_text() {
    let n = name("disable");
    let _store = open(&url("127.0.0.1", "sslmode=disable", &n)).expect("connects");
    assert!(!encrypted(&n));
}

#[test]
fn an_unreadable_root_certificate_file_is_named() {
    let query = "sslmode=verify-full&sslrootcert=/nonexistent/root.crt";
    let error = open(&url("localhost", query, &name("missing"))).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("cannot read sslrootcert /nonexistent/root.crt"),
        "{text}"
    );
}
