"""E-mail addresses as organisers' tools pass them on, made ready for spec §1.

Ticketing and form tools hand over what people typed or pasted: `<dana@example.net>`,
`mailto:dana@example.net`, `Dana Quill <dana@example.net>`, `"dana@example.net"`, an
address with a comma after it. Spec SCREEN-v1 §1 normalises such text faithfully into a
string no record can hold, so each of them would screen clear. The importer
(csv_import.py) and the agent's Check both go through `screenable_email`, which

* first unwraps the forms whose address is unambiguous (`unwrap_email`), leaving any other
  text exactly as it came, so that §1 sees what it always saw;
* then normalises by §1, unchanged (core/identity.py);
* then refuses a result that still lacks the shape of an address (letters, digits and the
  RFC 5322 atom characters before the `@`; host-name labels with at least one dot after
  it), so that the importer reports the cell as not screened and Check answers
  INVALID_ARGUMENT: never a silent clear.

Messages never quote the address: it is personal data.
"""

from __future__ import annotations

import re
import string
import unicodedata

from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import MAX_INPUT_CHARS, Kind, normalize, normalize_email

__all__ = ["checked_identifier", "screenable_email", "unwrap_email"]

_QUOTES = frozenset({('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("«", "»"), ("„", "“")})
_MAILTO = "mailto:"
# RFC 5322 atext, and the dots of a dot-atom (not checked for position: some mobile
# carriers' addresses have dots side by side or before the '@', and they do deliver).
_LOCAL_ASCII = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~.")
_LABEL_ASCII = frozenset(string.ascii_letters + string.digits + "-_")
# Exactly the ASCII text screenable_email's checks accept (its fast path).
_ASCII_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]*@[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)+"
)
# Characters any wrapping unwrap_email takes off involves (with white space at the ends).
_WRAPPING = frozenset("<>,;:").union(*_QUOTES)


def _trim(text: str) -> str:
    """Without white space or invisible format characters (U+200B, U+FEFF...) at its ends."""
    start, end = 0, len(text)
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    return text[start:end]


def _blank(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Cf"


def _unquoted(text: str) -> str:
    if len(text) >= 2 and (text[0], text[-1]) in _QUOTES:
        return _trim(text[1:-1])
    return text


def _without_trailing_separator(text: str) -> tuple[str, bool]:
    if text.endswith((",", ";")):
        return _trim(text[:-1]), True
    return text, False


def unwrap_email(value: str) -> str:
    """The address inside `value` when it comes in one of these forms, else `value` as is:
    surrounding quotes, `<address>`, `Display Name <address>` (whose display name holds
    no other address), a `mailto:` prefix, one `,` or `;` after it, and those combined
    (`"Dana <mailto:a@b.org>";`). Nothing is unwrapped when the form is ambiguous: two
    different addresses, or more than one pair of angle brackets."""
    if (
        value.isascii()
        and _WRAPPING.isdisjoint(value)
        and not value[:1].isspace()
        and not value[-1:].isspace()
    ):
        return value  # the common case: ASCII with nothing around it
    text = _trim(value)
    core, separated = _without_trailing_separator(text)
    core = _unquoted(core)
    if core.endswith(">") and core.count("<") == 1 and core.count(">") == 1:
        display, _, inner = core[:-1].partition("<")
        shown, inner = _unquoted(_trim(display)), _trim(inner)
        if "@" in shown and shown.casefold() != inner.casefold():
            return value  # "a@x.org <b@y.org>": whose is it? refused by its shape later
        core = _unquoted(inner)
    if core[: len(_MAILTO)].casefold() == _MAILTO:
        core = _trim(core[len(_MAILTO) :])
    if not separated:
        core, _ = _without_trailing_separator(core)
    return value if core == text else core


def screenable_email(value: str) -> str:
    """`value` unwrapped (`unwrap_email`), normalised by spec §1, and checked to have the
    shape of an address. Raises InvalidIdentifier, whose message never quotes it."""
    if len(value) > MAX_INPUT_CHARS:
        raise InvalidIdentifier(
            f"identifier is {len(value)} characters long; at most {MAX_INPUT_CHARS} allowed"
        )
    address = normalize_email(unwrap_email(value))
    if address.isascii() and _ASCII_ADDRESS.fullmatch(address):
        return address  # what the checks below accept of ASCII, in one match
    local, _, domain = address.partition("@")
    if not all(ch in _LOCAL_ASCII or _letter(ch) for ch in local):
        raise InvalidIdentifier(
            "e-mail address has a character no address has before its '@' (brackets, "
            "quotes or punctuation around it?)"
        )
    labels = domain.split(".")
    if not all(ch in _LABEL_ASCII or _letter(ch) for label in labels for ch in label):
        raise InvalidIdentifier(
            "e-mail address has a character no domain has after its '@' (brackets, quotes "
            "or punctuation around it?)"
        )
    if len(labels) < 2:
        raise InvalidIdentifier("e-mail address has no dot in its domain")
    return address


def _letter(ch: str) -> bool:
    """A letter, mark or digit of any script beyond ASCII (internationalised addresses)."""
    return not ch.isascii() and unicodedata.category(ch)[0] in "LMN"


def checked_identifier(kind: Kind, value: str) -> str:
    """`value` as the WG's tools register it: an e-mail unwrapped (`unwrap_email`) and
    refused unless it has the shape of an address, as an event's screening reads it (a
    record under `<a@b.org>` would match no one); a name as given. Raises
    InvalidIdentifier when spec §1 or the shape refuses it."""
    if kind is Kind.EMAIL:
        unwrapped = unwrap_email(value)
        screenable_email(unwrapped)  # unwrapping again changes nothing
        return unwrapped
    normalize(kind, value)
    return value
