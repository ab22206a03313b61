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
    # 5: operator alerts about the registry itself: an Evaluate answer whose proof
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
]
