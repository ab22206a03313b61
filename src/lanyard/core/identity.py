"""Identifier normalisation, exactly as spec SCREEN-v1 §1 (revision 2) defines it, and the
record-side name variants of §5a.

Two spellings of the same person must give the same bytes, or screening misses them; two
different people must not be merged beyond what the spec accepts (homonyms on names).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum

from lanyard.core.errors import InvalidIdentifier

MAX_INPUT_CHARS = 512
NORMALISATION_REVISION = 2

# §1: the Default_Ignorable_Code_Point set, deleted before and after NFKC ("prepare").
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f-\u1160\u17b4-\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
# §1: the Unicode White_Space property (str.isspace also takes U+001C-U+001F, which is not).
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WHITE_SPACE_SET = frozenset(_WHITE_SPACE)
_DELETED_IN_NAMES = dict.fromkeys(map(ord, "'\u2018\u2019\u02bc\u02bb`\u00b7"))
_NON_DECOMPOSING = str.maketrans(
    {
        "ı": "i",
        "ȷ": "j",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "n",
        "ə": "e",
        "ĸ": "k",
    }
)
# §5a step 3: German/Nordic transliteration, applied to composed letters.
_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "å": "aa", "ø": "oe"})
_DIGRAPH = re.compile("ae|oe|ue")
# §5a step 2: scripts written without spaces between family and given name.
_UNSPACED_RANGES = (
    (0x3005, 0x3007),
    (0x3040, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x1100, 0x11FF),
    (0x3130, 0x318F),
    (0xAC00, 0xD7AF),
    (0x20000, 0x3134F),
    (0x2F800, 0x2FA1F),
)
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# ASCII text, by far the commonest, takes a shorter road to the same result: prepare and
# NFKC/NFKD/NFC leave ASCII as it is, casefold is lower(), and of ASCII only letters and
# digits are L*/N* (tests/core/test_identity_props.py holds both roads equal).
_ASCII_WHITE_SPACE = re.compile("[\t\n\x0b\x0c\r ]")
_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")
_ASCII_NOT_LETTER_OR_DIGIT = re.compile("[^a-z0-9]")


class Kind(StrEnum):
    EMAIL = "email"
    NAME = "name"


def prepare(value: str) -> str:
    """§1 prepare: delete default-ignorable code points, NFKC, delete them again."""
    return _IGNORABLE.sub("", unicodedata.normalize("NFKC", _IGNORABLE.sub("", value)))


def normalize_email(value: str) -> str:
    """spec §1 `email` (revision 2); raises InvalidIdentifier."""
    _check_length(value)
    if value.isascii():
        text = value.strip(_WHITE_SPACE).lower()
    else:
        text = prepare(value).strip(_WHITE_SPACE).casefold()
    local, domain = _split_address(text)
    domain = domain.rstrip(".")
    if any(label.startswith("xn--") for label in domain.split(".")):
        domain = ".".join(_decode_label(label) for label in domain.split("."))
        domain = prepare(domain).casefold().rstrip(".")
        local, domain = _split_address(f"{local}@{domain}")
    local = local.split("+", 1)[0]
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    if not local:
        raise InvalidIdentifier("e-mail address has an empty local part")
    if not domain or "" in domain.split("."):
        raise InvalidIdentifier("e-mail address has an empty domain or an empty domain label")
    return f"{local}@{domain}"


def _split_address(text: str) -> tuple[str, str]:
    """§1 email step 2: one '@', no white space, no control character."""
    if text.count("@") != 1:
        raise InvalidIdentifier("e-mail address must contain exactly one '@'")
    if text.isascii():
        if _ASCII_WHITE_SPACE.search(text):
            raise InvalidIdentifier("e-mail address contains white space")
        if _ASCII_CONTROL.search(text):
            raise InvalidIdentifier("e-mail address contains a control character")
        local, domain = text.split("@")
        return local, domain
    if any(ch in _WHITE_SPACE_SET for ch in text):
        raise InvalidIdentifier("e-mail address contains white space")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidIdentifier("e-mail address contains a control character")
    local, domain = text.split("@")
    return local, domain


def _decode_label(label: str) -> str:
    """§1 email step 3: RFC 3492 decoding of an `xn--` label, left as is when it fails."""
    if not label.startswith("xn--"):
        return label
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError, OverflowError):
        return label
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in decoded):
        return label
    return decoded


def _name_letters(value: str, transliterate: bool = False) -> str:
    """§1 name steps 1-5 (with §5a step 3's transliteration when asked): the tokens, in
    the order typed, separated by U+0020 (possibly several)."""
    if value.isascii() and not transliterate:
        return _ASCII_NOT_LETTER_OR_DIGIT.sub(" ", value.lower().translate(_DELETED_IN_NAMES))
    text = prepare(value).casefold().translate(_DELETED_IN_NAMES)
    if transliterate:
        text = unicodedata.normalize("NFC", text).translate(_TRANSLITERATION)
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if unicodedata.category(ch) != "Mn"
    )
    text = text.translate(_NON_DECOMPOSING)
    text = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in text)
    return unicodedata.normalize("NFC", text)


def name_tokens(value: str) -> list[str]:
    """§1 name steps 1-5, token by token in the order typed, for text of any length
    (normalize_name sorts them and refuses more than 512 characters)."""
    return [t for t in _name_letters(value).split(" ") if t]


def _sorted_tokens(tokens: Iterable[str]) -> str:
    words = sorted(t for t in tokens if t)
    if not words:
        raise InvalidIdentifier("name has no letters or digits")
    return " ".join(words)


def normalize_name(value: str) -> str:
    """spec §1 `name` (revision 2); raises InvalidIdentifier."""
    _check_length(value)
    return _sorted_tokens(_name_letters(value).split(" "))


def is_unspaced_script(token: str) -> bool:
    """True when every character lies in §5a step 2's ranges (CJK ideographs, kana, Hangul)."""
    return bool(token) and all(
        any(lo <= ord(ch) <= hi for lo, hi in _UNSPACED_RANGES) for ch in token
    )


def name_variants(value: str, aliases: Iterable[str] = ()) -> list[str]:
    """spec §5a: every distinct form a record's name is registered under, sorted by code
    point (the normalised name, the CJK joinings, the transliteration and its reverse, and
    the same for each alias). Raises InvalidIdentifier if the name (or an alias) is."""
    forms: set[str] = set()
    for name in (value, *aliases):
        _check_length(name)
        normalised = normalize_name(name)
        forms.add(normalised)
        typed = name_tokens(name)
        if len(typed) >= 2 and all(is_unspaced_script(t) for t in typed):
            forms.add("".join(typed))
            forms.add("".join(reversed(typed)))
        forms.add(_sorted_tokens(_name_letters(name, transliterate=True).split(" ")))
        forms.add(
            _sorted_tokens(
                _DIGRAPH.sub(lambda m: m.group(0)[0], token) for token in normalised.split(" ")
            )
        )
    return sorted(forms)


def unspaced_name_hint(value: str) -> str | None:
    """A one-line hint when a name looks like CJK family and given name typed without a
    space (§5a step 2 can only join names entered with one)."""
    try:
        typed = name_tokens(value)
    except InvalidIdentifier:
        return None
    if len(typed) == 1 and len(typed[0]) >= 2 and is_unspaced_script(typed[0]):
        return (
            "this name is written without a space: enter it with a space between family "
            "and given name (e.g. 山田 太郎) so that both orders and the joined form match"
        )
    return None


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


def name_message(normalised: str) -> bytes:
    """The §1 message of an already-normalised name (a §5a form)."""
    return f"lanyard:v1:{Kind.NAME.value}:{normalised}".encode()


def _check_length(value: str) -> None:
    if len(value) > MAX_INPUT_CHARS:
        raise InvalidIdentifier(
            f"identifier is {len(value)} characters long; at most {MAX_INPUT_CHARS} allowed"
        )
