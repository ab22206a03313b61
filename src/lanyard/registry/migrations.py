"""Numbered schema migrations for registry.db; PRAGMA user_version records the last applied.

Append only: a released migration is never edited, a change is a new number.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: events, admins, records, their Y points, snapshot entries and state.
    """
    CREATE TABLE state (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO state (key, value) VALUES ('epoch', 1), ('version', 0);

    CREATE TABLE admins (
        name TEXT PRIMARY KEY,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        created_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        starts_on TEXT NOT NULL,
        ends_on TEXT NOT NULL,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        quota INTEGER NOT NULL CHECK (quota >= 0),
        used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
        revoked_at TEXT,
        created_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE records (
        record_ref TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('flagged', 'banned')),
        expires_on TEXT,
        created_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE record_points (
        record_ref TEXT NOT NULL REFERENCES records (record_ref) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        y BLOB NOT NULL CHECK (length(y) = 32),
        PRIMARY KEY (record_ref, epoch, y)
    ) STRICT;
    CREATE INDEX record_points_y ON record_points (epoch, y);

    -- Live entries have removed_version NULL; removed ones stay as tombstones (tag and
    -- versions only) so that deltas can name them.
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        tag BLOB NOT NULL CHECK (length(tag) = 32),
        sealed BLOB NOT NULL,
        record_ref TEXT,
        added_version INTEGER NOT NULL,
        removed_version INTEGER
    ) STRICT;
    CREATE UNIQUE INDEX entries_live_tag ON entries (tag) WHERE removed_version IS NULL;
    CREATE INDEX entries_added ON entries (added_version);
    CREATE INDEX entries_removed ON entries (removed_version);
    CREATE INDEX entries_ref ON entries (record_ref) WHERE removed_version IS NULL;
    """,
    # 2: end-of-event reports: the WG's report readers, the append-only submission log
    #    (ciphertext the registry cannot read), receipts, and the WG's signed steps.
    """
    INSERT INTO state (key, value) VALUES ('recipients_version', 0);

    CREATE TABLE recipients (
        name TEXT PRIMARY KEY,
        encryption_key BLOB NOT NULL CHECK (length(encryption_key) = 32),
        signing_key BLOB NOT NULL CHECK (length(signing_key) = 32),
        added_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE submissions (
        submission_id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        log_index INTEGER NOT NULL UNIQUE,
        envelope BLOB NOT NULL,
        envelope_sha256 BLOB NOT NULL,
        signature BLOB NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL,
        receipt BLOB NOT NULL
    ) STRICT;

    CREATE TABLE log_leaves (
        log_index INTEGER PRIMARY KEY,
        leaf BLOB NOT NULL
    ) STRICT;

    CREATE TABLE submission_steps (
        submission_id TEXT NOT NULL REFERENCES submissions (submission_id),
        step TEXT NOT NULL,
        member TEXT NOT NULL,
        at TEXT NOT NULL,
        message TEXT NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (submission_id, step)
    ) STRICT;

    -- The log is append-only: no row of it may change or go.
    CREATE TRIGGER log_leaves_no_update BEFORE UPDATE ON log_leaves
        BEGIN SELECT RAISE(ABORT, 'the submission log is append-only'); END;
    CREATE TRIGGER log_leaves_no_delete BEFORE DELETE ON log_leaves
        BEGIN SELECT RAISE(ABORT, 'the submission log is append-only'); END;
    CREATE TRIGGER submissions_no_delete BEFORE DELETE ON submissions
        BEGIN SELECT RAISE(ABORT, 'the submission log is append-only'); END;
    """,
    # 3: admin keys carry a role: the operator's, or a WG report reader's (who may read
    #    and acknowledge submissions and add records, but not manage events or keys).
    """
    ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'operator'
        CHECK (role IN ('operator', 'reader'));
    UPDATE admins SET role = 'reader' WHERE name IN (SELECT name FROM recipients);
    """,
    # 4: call-token nonces, kept until their token leaves the ±120 s window, so that a
    #    replay is refused across restarts (lanyard/core/nonces.py, docs/call-token.md).
    """
    CREATE TABLE call_nonces (
        key_id TEXT NOT NULL,
        nonce BLOB NOT NULL CHECK (length(nonce) = 16),
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX call_nonces_expiry ON call_nonces (expires_at);
    """,
    # 5: records that change: a ban's end, the report a record came from, the time of
    #    the last change, and each change's history (who, when, what; never a point).
    """
    ALTER TABLE records ADD COLUMN ban_until TEXT;
    ALTER TABLE records ADD COLUMN submission_id TEXT;
    ALTER TABLE records ADD COLUMN updated_at TEXT;

    CREATE TABLE record_history (
        id INTEGER PRIMARY KEY,
        record_ref TEXT NOT NULL,
        version INTEGER NOT NULL,
        at TEXT NOT NULL,
        member TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('added', 'updated')),
        detail TEXT NOT NULL
    ) STRICT;
    CREATE INDEX record_history_ref ON record_history (record_ref, id);
    """,
    # 6: files attached to end-of-event reports: sealed chunks the registry cannot read,
    #    uploaded before the envelope that lists them (and kept with it once logged).
    """
    CREATE TABLE submission_chunks (
        submission_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        blob INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        uploaded_at TEXT NOT NULL,
        PRIMARY KEY (submission_id, blob, idx)
    ) STRICT;
    """,
    # 7: the retention schedule as data (months; see registry/retention.py), report
    #    readers' retired signing keys, events' retired keys, and the registry's signing
    #    key hand-overs.
    """
    CREATE TABLE retention (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL CHECK (value BETWEEN 1 AND 1200)
    ) STRICT;
    INSERT INTO retention (key, value)
        VALUES ('flagged_months', 26), ('banned_months_after_ban', 26);

    -- A report reader's earlier signing keys (32 bytes each, oldest first), kept after a
    -- rekey so that the steps they signed still verify.
    ALTER TABLE recipients ADD COLUMN retired_signing_keys BLOB NOT NULL DEFAULT x'';

    -- An event's earlier keys, oldest first: its enrolment keeps its history.
    CREATE TABLE event_keys (
        event_id TEXT NOT NULL REFERENCES events (event_id),
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        retired_at TEXT NOT NULL,
        PRIMARY KEY (event_id, public_key)
    ) STRICT;

    CREATE TABLE signing_keys (
        seq INTEGER PRIMARY KEY,
        public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
        transition BLOB,
        added_at TEXT NOT NULL
    ) STRICT;
    """,
    # 8: the evaluation log (spec SCREEN-v1 §3b): one leaf per accepted evaluation, by an
    #    event or an admin key, appended in the transaction that charges the quota; and
    #    which record each admin evaluation was followed by. Counts and hashes only.
    """
    CREATE TABLE evaluation_log (
        log_index INTEGER PRIMARY KEY CHECK (log_index >= 0),
        caller TEXT NOT NULL,
        event_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        points INTEGER NOT NULL CHECK (points > 0),
        logged_at TEXT NOT NULL,
        points_sha256 BLOB NOT NULL CHECK (length(points_sha256) = 32),
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
    ) STRICT;
    CREATE INDEX evaluation_log_event ON evaluation_log (event_id, logged_at);
    CREATE INDEX evaluation_log_caller ON evaluation_log (caller, log_index);

    CREATE TRIGGER evaluation_log_no_update BEFORE UPDATE ON evaluation_log
        BEGIN SELECT RAISE(ABORT, 'the evaluation log is append-only'); END;
    CREATE TRIGGER evaluation_log_no_delete BEFORE DELETE ON evaluation_log
        BEGIN SELECT RAISE(ABORT, 'the evaluation log is append-only'); END;

    CREATE TABLE evaluation_claims (
        log_index INTEGER PRIMARY KEY REFERENCES evaluation_log (log_index),
        record_ref TEXT NOT NULL,
        claimed_at TEXT NOT NULL
    ) STRICT;
    """,
    # 9: the live entries in tag order with their sealed boxes, so that a bucket's entries
    #    and a whole snapshot are read from this index alone, in order, never row by row
    #    from the table (the snapshot's hash tree is built and kept from these reads).
    """
    CREATE INDEX entries_live_sealed ON entries (tag, sealed) WHERE removed_version IS NULL;
    """,
    # 10: how many records a claim covers: a batch import claims its evaluations once for
    #     all its records (named by the first), one record or its aliases count one.
    """
    ALTER TABLE evaluation_claims ADD COLUMN records INTEGER NOT NULL DEFAULT 1
        CHECK (records > 0);
    """,
]
