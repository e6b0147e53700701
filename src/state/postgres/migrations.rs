//! The PostgreSQL state's schema: its versioned migrations and how to read the version a
//! schema is at.

/// The schema, one script per version (`meta.schema_version` counts those applied). `{s}` is
/// the quoted schema name. Append new scripts; never edit a released one.
pub(super) const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE {s}.meta (
        key   text PRIMARY KEY,
        value bigint NOT NULL
    );
    INSERT INTO {s}.meta (key, value) VALUES ('serial', 0);

    CREATE TABLE {s}.history (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        campaign    text NOT NULL,
        recipient   text NOT NULL,
        fingerprint bytea NOT NULL CHECK (length(fingerprint) = 32),
        outcome     text NOT NULL CHECK (outcome IN ('in_flight', 'sent', 'failed', 'unknown')),
        api_code    bigint,
        detail      text,
        at          text NOT NULL,
        apply_id    text NOT NULL,
        request     text NOT NULL
    );
    CREATE INDEX history_delivery ON {s}.history (campaign, recipient);

    CREATE TABLE {s}.deliveries (
        campaign    text COLLATE \"C\" NOT NULL,
        recipient   text COLLATE \"C\" NOT NULL,
        fingerprint bytea NOT NULL CHECK (length(fingerprint) = 32),
        outcome     text NOT NULL CHECK (outcome IN ('in_flight', 'sent', 'failed', 'unknown')),
        at          text NOT NULL,
        seq         bigint NOT NULL REFERENCES {s}.history (seq),
        PRIMARY KEY (campaign, recipient)
    );

    CREATE TABLE {s}.applies (
        id          text COLLATE \"C\" PRIMARY KEY,
        who         text NOT NULL,
        started_at  text NOT NULL,
        finished_at text,
        plan_hash   text NOT NULL,
        sent        bigint NOT NULL,
        failed      bigint NOT NULL,
        unknown     bigint NOT NULL
    );

    CREATE TABLE {s}.lock (
        singleton integer PRIMARY KEY CHECK (singleton = 1),
        id        text NOT NULL,
        holder    text NOT NULL,
        since     text NOT NULL
    );
",
    // 2: the lineage, a random number that tells this state from any other with the same serial
    // (a fresh copy, a restored backup), recorded in every plan.
    "
    INSERT INTO {s}.meta (key, value) VALUES ('lineage',
        ('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16))::bit(64)::bigint);
",
    // 3: test messages (`herald send`), logged beside the applies and never deliveries: no
    // campaign's deliveries, nor the serial, change when one is sent.
    "
    CREATE TABLE {s}.test_sends (
        id           text COLLATE \"C\" PRIMARY KEY,
        who          text NOT NULL,
        at           text NOT NULL,
        campaign     text NOT NULL,
        rendered_for text NOT NULL,
        phone        text NOT NULL,
        outcome      text NOT NULL CHECK (outcome IN ('in_flight', 'sent', 'failed', 'unknown')),
        api_code     bigint,
        detail       text
    );
",
    // 4: rounds. A recurring campaign sends each occurrence to every recipient once, so a
    // delivery is keyed by campaign, occurrence and recipient. One-off campaigns keep the
    // empty occurrence: every delivery recorded before keeps its key, and a plan made before
    // the migration still applies (the serial is unchanged).
    "
    ALTER TABLE {s}.history ADD COLUMN occurrence text NOT NULL DEFAULT '';
    DROP INDEX {s}.history_delivery;
    CREATE INDEX history_delivery ON {s}.history (campaign, occurrence, recipient);
    ALTER TABLE {s}.deliveries ADD COLUMN occurrence text COLLATE \"C\" NOT NULL DEFAULT '';
    ALTER TABLE {s}.deliveries DROP CONSTRAINT deliveries_pkey;
    ALTER TABLE {s}.deliveries ADD PRIMARY KEY (campaign, occurrence, recipient);
",
    // 5: attempts by time. Frequency caps and the messaging limit count the messages of the
    // last days from history, attempt by attempt: these read only the attempts (and the
    // failures) of those days, however long history is.
    "
    CREATE INDEX history_sent_at ON {s}.history (at) WHERE outcome = 'in_flight';
    CREATE INDEX history_failed_at ON {s}.history (at) WHERE outcome = 'failed';
",
    // 6: the compact layout (`crate::state::layout`): rounds and runs by id, times as
    // integers, each request once per delivery and encoded against its round's skeleton,
    // outcomes as small rows naming their request, each delivery's rows chained by `prev`
    // (no index on history by delivery); the erased deliveries' hashes and the log of
    // operations. Between [`V6_BEFORE`] and this script, the old history is converted row by
    // row in recording order ([`super::PostgresStore::migrate`]).
    "
    DROP TABLE {s}.deliveries_v5;
    DROP TABLE {s}.history_v5;
    CREATE INDEX attempts_sent_at ON {s}.attempts (at) WHERE outcome = 0;
    CREATE INDEX attempts_failed_at ON {s}.attempts (at) WHERE outcome = 2;
",
    // 7: one row a delivery (`super::packed`): its requests and its history packed into
    // `log`, in `deliveries` once settled and in a reused slot of `intents` while its latest
    // row is an intent. Pacing reads the deliveries attempted or failed in its span through
    // `contact`, the latest such time; a delivery is written to `deliveries` as it settles, so
    // that time follows the table's order and a BRIN index (a few pages, where a B-tree took
    // 22 bytes a delivery) finds the span's pages. Between [`V7_BEFORE`] and this script,
    // schema 6's rows are packed in recording order ([`super::upgrade::convert_v6`]).
    "
    DROP TABLE {s}.deliveries_v6;
    DROP TABLE {s}.attempts;
    DROP TABLE {s}.requests;
    DROP SEQUENCE {s}.request_ids;
    CREATE INDEX deliveries_contact ON {s}.deliveries USING brin (contact)
        WITH (autosummarize = on);
    CREATE VIEW {s}.all_deliveries AS
        SELECT round, recipient, NULL::integer AS slot, fingerprint, outcome, at, contact, log
        FROM {s}.deliveries
        UNION ALL
        SELECT round, recipient, slot, fingerprint, outcome, at, contact, log
        FROM {s}.intents WHERE round IS NOT NULL;
",
];

/// Migration 7's first part: schema 6's `deliveries` set aside, the one-row tables made (the
/// key named anew: the one set aside keeps its name, which depends on the state's past). The
/// columns are ordered so that none is padded: the 8-byte ones first, then the 2-byte
/// outcome, then the variable ones (whose short headers need no alignment).
pub(super) const V7_BEFORE: &str = "
    ALTER TABLE {s}.deliveries RENAME TO deliveries_v6;
    CREATE TABLE {s}.deliveries (
        round       bigint NOT NULL,
        at          bigint NOT NULL,
        contact     bigint,
        outcome     smallint NOT NULL CHECK (outcome BETWEEN 0 AND 3),
        recipient   text COLLATE \"C\" NOT NULL,
        fingerprint bytea NOT NULL CHECK (length(fingerprint) = 32),
        log         bytea NOT NULL,
        CONSTRAINT deliveries_key PRIMARY KEY (round, recipient)
    );
    CREATE TABLE {s}.intents (
        slot        integer PRIMARY KEY,
        round       bigint,
        at          bigint,
        contact     bigint,
        outcome     smallint CHECK (outcome = 0),
        recipient   text COLLATE \"C\",
        fingerprint bytea CHECK (length(fingerprint) = 32),
        log         bytea
    );
";

/// Migration 6's first part: the old tables set aside, the new ones made.
pub(super) const V6_BEFORE: &str = "
    ALTER TABLE {s}.history RENAME TO history_v5;
    ALTER TABLE {s}.deliveries RENAME TO deliveries_v5;
    DROP INDEX {s}.history_delivery;
    DROP INDEX {s}.history_sent_at;
    DROP INDEX {s}.history_failed_at;

    CREATE TABLE {s}.rounds (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        campaign   text COLLATE \"C\" NOT NULL,
        occurrence text COLLATE \"C\" NOT NULL,
        UNIQUE (campaign, occurrence)
    );
    CREATE TABLE {s}.runs (
        id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE
    );
    CREATE SEQUENCE {s}.skeleton_ids;
    CREATE TABLE {s}.skeletons (
        id      bigint PRIMARY KEY,
        round   bigint NOT NULL,
        request bytea NOT NULL
    );
    CREATE SEQUENCE {s}.request_ids;
    CREATE TABLE {s}.requests (
        id          bigint PRIMARY KEY,
        round       bigint NOT NULL,
        fingerprint bytea CHECK (fingerprint IS NULL OR length(fingerprint) = 32),
        recipient   text NOT NULL,
        body        bytea
    );
    CREATE SEQUENCE {s}.attempt_seqs;
    CREATE TABLE {s}.attempts (
        seq      bigint PRIMARY KEY,
        request  bigint NOT NULL,
        prev     bigint,
        at       bigint NOT NULL,
        run      bigint NOT NULL,
        api_code bigint,
        outcome  smallint NOT NULL CHECK (outcome BETWEEN 0 AND 3),
        pruned   smallint NOT NULL DEFAULT 0,
        detail   text
    );
    CREATE TABLE {s}.deliveries (
        round       bigint NOT NULL,
        seq         bigint NOT NULL,
        at          bigint NOT NULL,
        outcome     smallint NOT NULL CHECK (outcome BETWEEN 0 AND 3),
        recipient   text COLLATE \"C\" NOT NULL,
        fingerprint bytea NOT NULL CHECK (length(fingerprint) = 32),
        PRIMARY KEY (round, recipient)
    );
    CREATE TABLE {s}.erased (
        round bigint NOT NULL,
        hash  bytea NOT NULL,
        PRIMARY KEY (round, hash)
    );
    CREATE TABLE {s}.operations (
        id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at     text NOT NULL,
        who    text NOT NULL,
        what   text NOT NULL,
        detail text NOT NULL,
        rows   bigint NOT NULL
    );
    CREATE TABLE {s}.secrets (
        name  text PRIMARY KEY,
        value bytea NOT NULL
    );
";

/// The schema version this herald writes: the number of migrations.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The version recorded in `meta` (a quoted `schema.meta`), 0 when there is no such table.
pub(super) fn schema_version(
    client: &mut impl postgres::GenericClient,
    meta: &str,
) -> Result<i64, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&meta])?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let sql = format!("SELECT value FROM {meta} WHERE key = 'schema_version'");
    match client.query_opt(&sql, &[])? {
        Some(row) => row.try_get(0),
        None => Ok(0),
    }
}
