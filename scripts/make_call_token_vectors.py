"""Write docs/call-token-vectors.json: the call-token test vectors (docs/call-token.md).

Deterministic: fixed keys, nonces and times; Ed25519 signatures are deterministic. The
test suite (tests/core/test_call_token_vectors.py) reproduces every value.

    .venv/bin/python scripts/make_call_token_vectors.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.signing

from lanyard.core import auth
from lanyard.wire.registry.v1 import registry_pb2

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

OUT = Path(__file__).resolve().parent.parent / "docs" / "call-token-vectors.json"
TS = 1_800_000_000


def _key(n: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([n]) * 32)


SIGNING = [
    # (seed byte, key id, method, body, timestamp, nonce byte)
    (
        1,
        "event:pycon-2027",
        "/lanyard.registry.v1.Registry/Evaluate",
        registry_pb2.EvaluateRequest(
            suite="SCREEN-v1", epoch=1, blinded_points=[bytes(range(32))]
        ).SerializeToString(),
        TS,
        0xA1,
    ),
    (
        2,
        "integration:pretix",
        "/lanyard.agent.v1.Screening/Check",
        b"\x0a\x0cGiven Family\x12\x13person@example.org",
        TS + 59,
        0xB2,
    ),
    (3, "member:ana.b", "/lanyard.agent.v1.Incidents/ListIncidents", b"", 1_700_000_000, 0xC3),
    (4, "admin:operator", "/lanyard.registry.v1.Admin/ListEvents", b"", 0, 0x00),
]


def signing_vectors() -> list[dict[str, Any]]:
    out = []
    for seed, key_id, method, body, ts, nonce_byte in SIGNING:
        key = _key(seed)
        nonce = bytes([nonce_byte]) * auth.NONCE_BYTES
        digest = hashlib.sha256(body).digest()
        message = auth.signed_message(key_id, method, ts, nonce, digest)
        token = auth.make_token(key_id, key, method, body, ts, nonce)
        out.append(
            {
                "seed": bytes(key).hex(),
                "public_key": bytes(key.verify_key).hex(),
                "key_id": key_id,
                "method": method,
                "body": body.hex(),
                "timestamp": ts,
                "nonce": nonce.hex(),
                "body_sha256": digest.hex(),
                "signed_message": message.hex(),
                "signature": key.sign(message).signature.hex(),
                "token": token,
            }
        )
    return out


def verification_vectors(base: dict[str, Any]) -> list[dict[str, Any]]:
    """Cases against the first signing vector; `now` is the verifier's clock (seconds)."""
    token: str = base["token"]
    ts: int = base["timestamp"]
    head, kid, t = "v2", base["key_id"], str(ts)
    nonce, sig = token.rsplit(".", 2)[1:]
    key = _key(1)
    other = _key(9)

    def case(name: str, expect: str, **over: Any) -> dict[str, Any]:
        v = {
            "name": name,
            "token": token,
            "method": base["method"],
            "body": base["body"],
            "public_key": base["public_key"],
            "now": ts,
            "expect": expect,
        }
        v.update(over)
        return v

    def with_text(ts_text: str) -> str:
        return f"{head}.{kid}.{ts_text}.{nonce}.{sig}"

    def resigned(ts_value: int) -> str:
        body, nonce_bytes = bytes.fromhex(base["body"]), bytes.fromhex(base["nonce"])
        return auth.make_token(kid, key, base["method"], body, ts_value, nonce_bytes)

    # The last character of an 86-character signature carries 2 bits and 4 zero bits:
    # setting a zero bit decodes to the same bytes, but is not the canonical encoding.
    sloppy = sig[:-1] + _B64[_B64.index(sig[-1]) | 1]
    return [
        case("valid, same second", "accept"),
        case("valid, token 120 s behind the clock", "accept", now=ts + 120),
        case("valid, token 120 s ahead of the clock", "accept", now=ts - 120),
        case("valid, clock has a fraction of a second more", "accept", now=ts + 120.999),
        case("121 s behind the clock", "reject", now=ts + 121),
        case("121 s ahead of the clock", "reject", now=ts - 121),
        case("another body", "reject", body=base["body"] + "00"),
        case("empty body", "reject", body=""),
        case("another method", "reject", method="/lanyard.registry.v1.Registry/GetSnapshot"),
        case("another key", "reject", public_key=bytes(other.verify_key).hex()),
        case("time with a plus sign", "reject", token=with_text("+" + t)),
        case("time with a leading zero", "reject", token=with_text("0" + t)),
        case("time with a leading space", "reject", token=with_text(" " + t)),
        case("time with a trailing space", "reject", token=with_text(t + " ")),
        case("time in exponent form", "reject", token=with_text("1.8e9")),
        case("time with a fraction", "reject", token=with_text(t + ".0")),
        case("time in hexadecimal", "reject", token=with_text(hex(ts))),
        case("time with an underscore", "reject", token=with_text(f"{ts:_}")),
        case("version v1", "reject", token="v1" + token[2:]),
        case("padded nonce", "reject", token=f"{head}.{kid}.{t}.{nonce}==.{sig}"),
        case("signature in standard base64", "reject", token=token.replace("-", "+") + "+"),
        case("truncated signature", "reject", token=token[:-4]),
        case(
            "non-canonical signature encoding", "reject", token=f"{head}.{kid}.{t}.{nonce}.{sloppy}"
        ),
        case("key id in capitals", "reject", token=token.replace(kid, kid.upper())),
        case("another key id", "reject", token=token.replace("pycon-2027", "pycon-2028")),
        case(
            "time changed, signature kept",
            "reject",
            token=with_text(str(ts + 1)),
        ),
        case("re-signed for a later time", "accept", token=resigned(ts + 5), now=ts + 5),
    ]


def main() -> None:
    signing = signing_vectors()
    doc = {
        "description": "Lanyard call token v2 (docs/call-token.md). Hex for bytes.",
        "max_skew_seconds": auth.MAX_SKEW_SECONDS,
        "metadata_key": auth.METADATA_KEY,
        "signing": signing,
        "verification": verification_vectors(signing[0]),
        "replay": {
            "note": "the same token presented twice to one verifier (and after its restart): "
            "the first is accepted, the second refused",
            "token": signing[0]["token"],
            "method": signing[0]["method"],
            "body": signing[0]["body"],
            "public_key": signing[0]["public_key"],
            "now": signing[0]["timestamp"],
        },
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
