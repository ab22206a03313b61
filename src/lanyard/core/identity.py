"""Identifier normalisation, exactly as spec SCREEN-v1 §1 defines it.

Two spellings of the same person must give the same bytes, or screening misses them; two
different people must not be merged beyond what the spec accepts (homonyms on names).
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from lanyard.core.errors import InvalidIdentifier

MAX_INPUT_CHARS = 512
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2018\u2019\u02bc`"))
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


class Kind(StrEnum):
    EMAIL = "email"
    NAME = "name"


def normalize_email(value: str) -> str:
    """spec §1 `email`; raises InvalidIdentifier."""
    _check_length(value)
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    if any(ch.isspace() for ch in text):
        raise InvalidIdentifier("e-mail address contains white space")
    if text.count("@") != 1:
        raise InvalidIdentifier("e-mail address must contain exactly one '@'")
    local, domain = text.split("@")
    domain = domain.rstrip(".")
    if not local or not domain:
        raise InvalidIdentifier("e-mail address needs a local part and a domain")
    local = local.split("+", 1)[0]
    if not local:
        raise InvalidIdentifier("e-mail address has an empty local part before '+'")
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
        if not local:
            raise InvalidIdentifier("e-mail address has an empty local part")
    return f"{local}@{domain}"


def normalize_name(value: str) -> str:
    """spec §1 `name`; raises InvalidIdentifier."""
    _check_length(value)
    text = unicodedata.normalize("NFKC", value).casefold()
    text = text.translate(_APOSTROPHES)
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if unicodedata.category(ch) != "Mn"
    )
    text = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text)
    tokens = text.split()
    if not tokens:
        raise InvalidIdentifier("name has no letters or digits")
    return " ".join(sorted(tokens))


def normalize(kind: Kind, value: str) -> str:
    return normalize_email(value) if kind is Kind.EMAIL else normalize_name(value)


_MESSAGE_PREFIX = "lanyard:v1:"


def message(kind: Kind, value: str) -> bytes:
    """The hash-to-group input m = UTF-8("lanyard:v1:" + kind + ":" + normalised) (spec §1);
    raises InvalidIdentifier."""
    return message_of(kind, normalize(kind, value))


def message_of(kind: Kind, normalised: str) -> bytes:
    """m for an identifier that is already normalised (spec §1)."""
    return f"{_MESSAGE_PREFIX}{kind.value}:{normalised}".encode()


def normalised_of(m: bytes) -> tuple[Kind, str]:
    """The kind and normalised identifier inside a spec §1 message; raises
    InvalidIdentifier when `m` is not one."""
    try:
        text = m.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidIdentifier("message is not UTF-8") from exc
    prefix, _, rest = text.partition(":v1:")
    kind, sep, normalised = rest.partition(":")
    if prefix != "lanyard" or not sep or kind not in Kind.__members__.values():
        raise InvalidIdentifier("not a LANYARD-SCREEN-v1 message")
    return Kind(kind), normalised


def _check_length(value: str) -> None:
    if len(value) > MAX_INPUT_CHARS:
        raise InvalidIdentifier(
            f"identifier is {len(value)} characters long; at most {MAX_INPUT_CHARS} allowed"
        )
