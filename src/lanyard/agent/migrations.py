"""Numbered schema migrations for agent.db; append only."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: snapshot, screening runs, attendees with identities and results, alerts,
    #    ticketing integrations.
    """
    CREATE TABLE snapshot_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        epoch INTEGER NOT NULL,
        version INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE snapshot_entries (
        tag BLOB PRIMARY KEY,
        sealed BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL,
        role TEXT NOT NULL,
        layout TEXT NOT NULL,
        source TEXT NOT NULL,
        last_line INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (digest, role, layout)
    ) STRICT;

    CREATE TABLE attendees (
        attendee_id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs (run_id) ON DELETE CASCADE,
        line INTEGER,
        ref TEXT NOT NULL,
        role TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT NOT NULL,
        record_ref TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (run_id, line)
    ) STRICT;
    CREATE INDEX attendees_run_decision ON attendees (run_id, decision);

    CREATE TABLE identities (
        attendee_id INTEGER NOT NULL REFERENCES attendees (attendee_id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('email', 'name')),
        message BLOB NOT NULL,
        epoch INTEGER NOT NULL,
        y BLOB NOT NULL CHECK (length(y) = 32),
        PRIMARY KEY (attendee_id, kind)
    ) STRICT;
    CREATE INDEX identities_message ON identities (message, epoch);
    CREATE INDEX identities_epoch ON identities (epoch);

    CREATE TABLE skipped (
        run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        line INTEGER NOT NULL,
        ref TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (run_id, line)
    ) STRICT;

    CREATE TABLE alerts (
        alert_id INTEGER PRIMARY KEY,
        attendee_id INTEGER NOT NULL REFERENCES attendees (attendee_id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT NOT NULL,
        record_ref TEXT NOT NULL,
        snapshot_version INTEGER NOT NULL,
        raised_at TEXT NOT NULL,
        acknowledged_at TEXT
    ) STRICT;

    CREATE TABLE integrations (
        name TEXT PRIMARY KEY,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        created_at TEXT NOT NULL,
        revoked_at TEXT
    ) STRICT;
    """,
    # 2: the Code of Conduct team and its incident records. Contents are sealed per
    #    incident (incidents/crypto.py); only ids, statuses, times and who did what are
    #    in the clear. The incidents' keys live in keyring.db, not here.
    """
    CREATE TABLE members (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('volunteer', 'responder', 'chair')),
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        added_at TEXT NOT NULL,
        removed_at TEXT
    ) STRICT;

    CREATE TABLE incidents (
        incident_id INTEGER PRIMARY KEY,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        filed_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        acknowledged_at TEXT,
        decided_at TEXT,
        awaiting_second INTEGER NOT NULL DEFAULT 0,
        sealed BLOB NOT NULL
    ) STRICT;

    CREATE TABLE recusals (
        incident_id INTEGER NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
        member TEXT NOT NULL,
        PRIMARY KEY (incident_id, member)
    ) STRICT;

    CREATE TABLE audit (
        audit_id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        member TEXT NOT NULL,
        action TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_incident ON audit (incident_id);
    """,
    # 3: the outbox of sealed end-of-event reports (ciphertext only) and their receipts.
    """
    CREATE TABLE outbox (
        submission_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        envelope BLOB NOT NULL,
        signature BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        receipt BLOB
    ) STRICT;
    """,
    # 4: which incident versions each sealed report covered, so `report submit` knows
    #    exactly whether anything changed since the last one.
    """
    ALTER TABLE outbox ADD COLUMN covers TEXT NOT NULL DEFAULT '';
    """,
    # 5: one row per stored identity. `points` holds each distinct spec §1 message once,
    #    with its Y under the epoch in use and, during a key rotation, under the next
    #    epoch; `identities` now only links people to messages. The snapshot keeps when
    #    it was last confirmed the newest, and a next epoch's snapshot waits beside it
    #    until every identity has been evaluated under that epoch. The WG's signed
    #    recipient set is cached so a report can be sealed while the registry is away,
    #    and each receipt remembers when the log last proved it.
    """
    CREATE TABLE points (
        message BLOB PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('email', 'name')),
        epoch INTEGER NOT NULL,
        y BLOB NOT NULL CHECK (length(y) = 32),
        next_epoch INTEGER,
        next_y BLOB CHECK (next_y IS NULL OR length(next_y) = 32)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO points (message, kind, epoch, y)
        SELECT message, kind, max(epoch), y FROM identities GROUP BY message;
    CREATE INDEX points_epoch ON points (epoch);

    CREATE TABLE identities_v5 (
        attendee_id INTEGER NOT NULL REFERENCES attendees (attendee_id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('email', 'name')),
        message BLOB NOT NULL,
        PRIMARY KEY (attendee_id, kind)
    ) STRICT;
    INSERT INTO identities_v5 (attendee_id, kind, message)
        SELECT attendee_id, kind, message FROM identities;
    DROP TABLE identities;
    ALTER TABLE identities_v5 RENAME TO identities;
    CREATE INDEX identities_message ON identities (message);

    ALTER TABLE snapshot_state ADD COLUMN confirmed_at TEXT;
    CREATE TABLE next_snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        epoch INTEGER NOT NULL,
        version INTEGER NOT NULL,
        seen_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE next_snapshot_entries (
        tag BLOB PRIMARY KEY,
        sealed BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX alerts_open ON alerts (acknowledged_at);
    ALTER TABLE outbox ADD COLUMN verified_at TEXT;
    CREATE TABLE recipient_cache (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        recipient_set BLOB NOT NULL,
        fetched_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE retention_done (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at TEXT NOT NULL,
        attendees INTEGER NOT NULL
    ) STRICT;
    """,
    # 6: call-token nonces, kept until their token leaves the ±120 s window, so that a
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
    # 7: files attached to incidents: sealed chunks under the incident's own key (see
    #    core/chunks.py); the name, note and type are sealed too. Only ids, sizes, counts,
    #    who and when are in the clear. A row is complete once every chunk is written.
    """
    CREATE TABLE attachments (
        attachment_id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL,
        size INTEGER NOT NULL,
        chunks INTEGER NOT NULL,
        sealed_meta BLOB NOT NULL,
        added_by TEXT NOT NULL,
        added_at TEXT NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX attachments_incident ON attachments (incident_id);

    CREATE TABLE attachment_chunks (
        attachment_id INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (attachment_id, idx)
    ) STRICT;
    """,
    # 8: the sealed chunks of files a report in the outbox carries, until it is receipted.
    """
    CREATE TABLE outbox_chunks (
        submission_id TEXT NOT NULL,
        blob INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (submission_id, blob, idx)
    ) STRICT;
    """,
    # 9: the retention schedule as data (days; agent/retention.py), the chairs'
    #    approvals to destroy or export an incident that waits for a decision, and an
    #    integration's previous key, still accepted while the ticketing system moves over.
    """
    ALTER TABLE integrations ADD COLUMN previous_key BLOB
        CHECK (previous_key IS NULL OR length(previous_key) = 32);

    CREATE TABLE retention (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL CHECK (value BETWEEN 1 AND 36500)
    ) STRICT;
    INSERT INTO retention (key, value)
        VALUES ('attendee_days', 30), ('warning_incident_days', 730);

    CREATE TABLE disposals (
        incident_id INTEGER NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('destroy', 'export')),
        member TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (incident_id, action, member)
    ) STRICT;
    """,
    # 10: operator alerts about the registry itself: an Evaluate answer whose proof
    #    (spec SCREEN-v1 §3a) or log entry (§3b) did not verify. No attendee data.
    """
    CREATE TABLE registry_faults (
        fault_id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        acknowledged_at TEXT
    ) STRICT;
    """,
    # 11: the snapshot held (and a next epoch's) keeps the Merkle root of its entries, the
    #    registry's signature over it and the epoch's public key (docs/snapshot.md), so
    #    that damaged rows are noticed when loaded. Rows stored before have no root: the
    #    agent keeps answering from them and fetches the whole snapshot again.
    """
    ALTER TABLE snapshot_state ADD COLUMN root BLOB CHECK (root IS NULL OR length(root) = 32);
    ALTER TABLE snapshot_state ADD COLUMN signature BLOB;
    ALTER TABLE snapshot_state ADD COLUMN public_key BLOB;
    ALTER TABLE next_snapshot ADD COLUMN root BLOB CHECK (root IS NULL OR length(root) = 32);
    ALTER TABLE next_snapshot ADD COLUMN signature BLOB;
    ALTER TABLE next_snapshot ADD COLUMN public_key BLOB;
    """,
    # 12: an alert keeps the result its person had before the change (so a "cleared"
    #    alert names the record that no longer matches), and the other stored rows of the
    #    same identity whose result changed alike: one alert per identity and change, however
    #    many files and checks named the person. Alerts stored before have neither.
    """
    ALTER TABLE alerts ADD COLUMN previous_decision TEXT;
    ALTER TABLE alerts ADD COLUMN previous_reason TEXT;
    ALTER TABLE alerts ADD COLUMN previous_record_ref TEXT;
    CREATE TABLE alert_rows (
        alert_id INTEGER NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
        attendee_id INTEGER NOT NULL REFERENCES attendees (attendee_id) ON DELETE CASCADE,
        PRIMARY KEY (alert_id, attendee_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX alert_rows_attendee ON alert_rows (attendee_id);
    """,
]
