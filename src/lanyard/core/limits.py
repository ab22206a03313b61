"""Every size and count limit of the wire, in one table.

The servers' options and request intake (services/core/intake.py), the registry's checks,
the agent and the CLI all read these values; the .proto comments quote them. A value here
changes in one place only.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# -- screening -----------------------------------------------------------------------------
MAX_BATCH = 10_000  # blinded points in one Evaluate call (registry.toml max_batch: at most this)
POINT_BYTES = 32
MAX_POINTS_PER_RECORD = 64  # points one record holds (a name counts once per spec §5a variant)
MAX_RECORDS_PER_BATCH = 1000  # records one AddRecords call adds
MAX_POINTS_PER_BATCH = MAX_BATCH  # Y points one AddRecords call carries, all records together
QUOTA_MIN = 1  # evaluations an event may be enrolled for (EnrollEvent quota)
QUOTA_MAX = 100_000_000

# -- end-of-event reports --------------------------------------------------------------------
MAX_ENVELOPE_BYTES = 4 * MIB  # a serialised, sealed ReportEnvelope
SUBMISSIONS_PER_EVENT_PER_DAY = 20  # SubmitReport calls one event may make in 24 hours
SUBMISSION_BYTES_PER_EVENT_PER_DAY = 16 * MIB  # envelope bytes one event may add in 24 hours

# -- files attached to incidents (agent) ----------------------------------------------------
ATTACHMENTS: dict[str, int] = {
    "file_bytes": 512 * MIB,  # one file
    "incident_bytes": 2048 * MIB,  # all files of one incident
    "incident_files": 100,
    "name_chars": 200,
    "note_chars": 2000,
    "piece_bytes": 1 * MIB,  # the data of one Attach message
}

# -- files carried by end-of-event reports (registry) ----------------------------------------
REPORT_FILES: dict[str, int] = {
    "blobs": 500,  # files per submission
    "submission_bytes": 8192 * MIB,  # all sealed files of one submission
    "unclaimed_days": 30,  # files of a report never submitted are kept this long
}

# -- messages --------------------------------------------------------------------------------
DEFAULT_REQUEST_BYTES = 64 * KIB  # any request not named below
MAX_RESPONSE_BYTES = 32 * MIB  # the largest answer a client accepts (a snapshot streams in chunks)
_ENVELOPE_OVERHEAD = 4 * KIB  # the signature and field framing around an envelope

REQUEST_BYTES: dict[str, int] = {
    "/lanyard.registry.v1.Registry/Evaluate": MAX_BATCH * (POINT_BYTES + 3) + 4 * KIB,
    "/lanyard.registry.v1.Admin/EvaluateForRecord": MAX_BATCH * (POINT_BYTES + 3) + 4 * KIB,
    # Each record: a reference of up to 64 bytes, status, expiry and framing (< 128 bytes).
    "/lanyard.registry.v1.Admin/AddRecords": MAX_RECORDS_PER_BATCH * 128
    + MAX_POINTS_PER_BATCH * (POINT_BYTES + 3)
    + 4 * KIB,
    "/lanyard.registry.v1.Registry/SubmitReport": MAX_ENVELOPE_BYTES + _ENVELOPE_OVERHEAD,
    "/lanyard.agent.v1.Incidents/FileIncident": 1 * MIB,
    "/lanyard.agent.v1.Incidents/UpdateIncident": 1 * MIB,
    "/lanyard.agent.v1.Incidents/AddNote": 1 * MIB,
    "/lanyard.agent.v1.Incidents/Decide": 1 * MIB,
    "/lanyard.agent.v1.Incidents/RecordCommunication": 1 * MIB,
    "/lanyard.agent.v1.Incidents/DeclareConflict": 1 * MIB,
    # Per message of the upload streams: one piece of a file, one sealed chunk.
    "/lanyard.agent.v1.Incidents/Attach": 1 * MIB + 4 * KIB,
    "/lanyard.registry.v1.Registry/UploadAttachment": 1 * MIB + 4 * KIB,
}

# What a server's transport accepts at all: the largest request of the table.
MAX_REQUEST_BYTES = max(DEFAULT_REQUEST_BYTES, *REQUEST_BYTES.values())


def request_limit(method: str) -> int:
    """Largest serialized request (bytes) accepted for the full method name `method`."""
    return REQUEST_BYTES.get(method, DEFAULT_REQUEST_BYTES)


def server_options() -> list[tuple[str, int]]:
    """grpc.aio server options every Lanyard server uses."""
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
    ]


def channel_options() -> list[tuple[str, int]]:
    """grpc.aio channel options every Lanyard client uses."""
    return [
        ("grpc.max_send_message_length", MAX_REQUEST_BYTES),
        ("grpc.max_receive_message_length", MAX_RESPONSE_BYTES),
    ]
