"""The last gate before a transparency report is written: does it name anyone?

The seeds' one rule for the report is that it "does not include any sensitive information
such as the names of the reporters and the reported people". The report's incident lines
are built from fixed phrases, but the chair's own public texts (how to report, the team's
names, the survey) are typed, and a name typed there by mistake would be published. So the
final rendered text — Markdown, HTML or JSON, exactly the bytes about to be written — is
searched for every identifier the agent holds, and any hit stops the command.

What is searched for (each a "needle", labelled by the kind of field it came from):

- every incident's reporter name and contact, reported people, bad actors, who received
  it, and the team members who filed, wrote notes, declared conflicts or decided;
- every free-text field of every incident: description, circumstances, others involved,
  location, category, notes, reasoning, another action's wording, conflicts' reasons;
- the screened attendees' normalised names and e-mail addresses (the identities table),
  their ticket references and WG record references, and the team's member names.

How: the text is tokenised exactly as spec SCREEN-v1 §1 normalises a name (NFKC,
casefold, apostrophes dropped, accents stripped, anything but letters and digits a
separator), so "BLAKE, Jordan", "Jordan Blake" and "jordan blake" are one name: a name is
found when any run of as many adjacent tokens holds the same tokens in any order. E-mail
addresses are found by extracting every address-like string and normalising it (§1
`email`). Short free texts are searched like names; longer ones as their whole token
sequence and as every run of six consecutive tokens, so a sentence copied out of a
description is caught too. Phone-like contacts are also searched as digits. Each check
runs over the raw text and over its decoded forms (HTML entities and tags, JSON escapes,
URL encoding).

What is not a leak: a needle the report's fixed wording already contains (the same report
with the chair's texts left out, plus every phrase of vocabulary.py) cannot tell anyone
anything — a member called "chair", a description saying "unwanted physical contact".
Attendees and team members may also appear where the chair chose to name the team: the
team's members are usually on the attendee list too. Reporters, reported people and
incident texts have no such exemption: a public team name that equals a reporter's name is
refused. The check errs towards refusing; it cannot know a name written inside a free text
that the agent does not hold as a name, nor a first name alone.

A refusal is one sentence that names the kind of field and the incident (never the
identifier, which would put it in a terminal log) and, when it can tell, which of the
chair's texts holds it.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import structlog

from lanyard.agent.errors import Error
from lanyard.agent.incidents.model import Incident
from lanyard.core import identity
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import normalize_email, normalize_name

log = structlog.get_logger("lanyard.transparency")

SHINGLE = 6  # tokens in a run copied from a long free text
SHORT_TEXT_TOKENS = 4  # free texts this short are matched like names, in any order
MIN_TEXT_CHARS = 6  # shorter free texts ("none", "hall") are not searched
MIN_NAME_CHARS = 2
MIN_DIGITS = 7
_EMAIL = re.compile(r"[^\s@<>()\[\]{};:,\"'`|\\/]+@[^\s@<>()\[\]{};:,\"'`|\\/]+")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-+/]*\d")
_TAG = re.compile(r"<[^>]*>")
_GENERATED_REF = re.compile(r"^line \d+$")


class PrivacyLeak(Error):
    """A rendered report that holds an identifier the agent keeps; nothing was written."""

    def __init__(self, message: str, field_code: str, incident_id: int | None) -> None:
        super().__init__(message)
        self.field_code = field_code
        self.incident_id = incident_id


def tokens(text: str) -> list[str]:
    """spec SCREEN-v1 §1 name normalisation, token by token and in order, for any length
    of text (normalize_name sorts and caps at 512 characters)."""
    return identity.name_tokens(text)


def views(text: str) -> list[str]:
    """The text as written, and as a reader or a parser would decode it."""
    out = [text, html.unescape(_TAG.sub(" ", text)), unquote(text)]
    try:
        parsed = json.loads(text)
    except ValueError:
        return out
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                strings.append(str(k))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(parsed)
    out.append("\n".join(strings))
    return out


# -- probes and where they are found ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    mode: str  # window (tokens in any order) | seq (tokens in order) | email | digits
    value: tuple[str, ...]


class Haystack:
    """One text (in its views), indexed for the four kinds of probe."""

    def __init__(self, texts: Iterable[str]) -> None:
        texts = list(texts)
        self._tokens = [tokens(t) for t in texts]
        self._joined = [" " + " ".join(t) + " " for t in self._tokens]
        self._windows: dict[int, set[tuple[str, ...]]] = {}
        self._sequences: dict[int, set[tuple[str, ...]]] = {}
        self._emails: set[str] = set()
        self._digits: list[str] = []
        for t in texts:
            for found in _EMAIL.findall(unicodedata.normalize("NFKC", t)):
                try:
                    self._emails.add(normalize_email(found.strip(".")))
                except InvalidIdentifier:
                    continue
            self._digits += [re.sub(r"\D", "", d) for d in _DIGIT_RUN.findall(t)]

    def _runs(self, n: int, ordered: bool) -> set[tuple[str, ...]]:
        cache = self._sequences if ordered else self._windows
        if n not in cache:
            cache[n] = {
                tuple(toks[i : i + n]) if ordered else tuple(sorted(toks[i : i + n]))
                for toks in self._tokens
                for i in range(len(toks) - n + 1)
            }
        return cache[n]

    def has(self, probe: Probe) -> bool:
        if probe.mode == "window":
            return probe.value in self._runs(len(probe.value), ordered=False)
        if probe.mode == "seq":
            if len(probe.value) <= 2 * SHINGLE:
                return probe.value in self._runs(len(probe.value), ordered=True)
            needle = " " + " ".join(probe.value) + " "
            return any(needle in j for j in self._joined)
        if probe.mode == "email":
            return probe.value[0] in self._emails
        return any(probe.value[0] in d for d in self._digits)


@dataclass(frozen=True, slots=True)
class Needle:
    code: str  # for logs: reporter_name, attendee_email, …
    label: str  # for the sentence: "an incident's reporter name"
    incident_id: int | None
    probes: tuple[Probe, ...]
    public_where_named: bool = False  # attendees and members: fine where the chair named them


def _name_probes(value: str) -> tuple[Probe, ...]:
    try:
        toks = tuple(normalize_name(value).split())
    except InvalidIdentifier:
        toks = tuple(sorted(tokens(value)))
    if len(" ".join(toks)) < MIN_NAME_CHARS:
        return ()
    return (Probe("window", toks),)


def _email_probes(value: str) -> tuple[Probe, ...]:
    try:
        return (Probe("email", (normalize_email(value),)),)
    except InvalidIdentifier:
        return ()


def _digit_probes(value: str) -> tuple[Probe, ...]:
    digits = re.sub(r"\D", "", value)
    return (Probe("digits", (digits,)),) if len(digits) >= MIN_DIGITS else ()


def _text_probes(value: str) -> tuple[Probe, ...]:
    toks = tokens(value)
    if len(" ".join(toks)) < MIN_TEXT_CHARS:
        return ()
    if len(toks) <= SHORT_TEXT_TOKENS:
        return (Probe("window", tuple(sorted(toks))),)
    probes = [Probe("seq", tuple(toks))]
    probes += [Probe("seq", tuple(toks[i : i + SHINGLE])) for i in range(len(toks) - SHINGLE + 1)]
    return tuple(dict.fromkeys(probes))


def _contact_probes(value: str) -> tuple[Probe, ...]:
    """A contact is an e-mail address, a phone number, a handle — or all three."""
    found = [p for e in _EMAIL.findall(value) for p in _email_probes(e)]
    # Digits only for a contact that is not an address: an address's digits would match
    # inside any other address that shares them.
    digits = () if found else _digit_probes(value)
    return (*found, *digits, *_text_probes(value), *_name_probes(value))


@dataclass
class HeldIdentifiers:
    """What the agent's database holds about people besides the incidents."""

    identities: list[tuple[str, str]] = field(default_factory=list)  # (kind, normalised)
    refs: list[str] = field(default_factory=list)
    record_refs: list[str] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # (name, role), ever
    # Roles of the team as it stands (removed members are still names to protect, but
    # no longer part of "who enforced the Code of Conduct").
    current_roles: list[str] = field(default_factory=list)


def _incident_needles(i: Incident) -> Iterator[Needle]:
    iid = i.incident_id
    r = i.report

    def text(code: str, label: str, value: str) -> Needle:
        return Needle(code, label, iid, _text_probes(value))

    def member(value: str, label: str = "a team member's name") -> Needle:
        return Needle("member", label, iid, _name_probes(value), public_where_named=True)

    yield Needle("reporter_name", "an incident's reporter name", iid, _name_probes(r.reporter_name))
    yield Needle(
        "reporter_contact",
        "an incident's reporter contact",
        iid,
        _contact_probes(r.reporter_contact),
    )
    for person in r.reported:
        yield Needle(
            "reported_name", "an incident's reported person's name", iid, _name_probes(person.name)
        )
    if i.decision is not None:
        for actor in i.decision.bad_actors:
            yield Needle(
                "bad_actor",
                "the name of a person a decision found at fault",
                iid,
                _name_probes(actor),
            )
    yield Needle(
        "others_involved",
        "an incident's list of others involved",
        iid,
        _text_probes(r.others_involved) + _name_probes(r.others_involved),
    )
    yield text("description", "an incident's description", r.description)
    yield text("circumstances", "an incident's circumstances", r.circumstances)
    yield text("location", "an incident's location", r.location)
    yield text("category", "an incident's category as the team typed it", r.category)
    for note in i.notes:
        yield text("note", "an incident's note", note.text)
    for conflict in i.conflicts:
        yield text("conflict_reason", "an incident's conflict of interest", conflict.reason)
    if i.decision is not None:
        yield text("reasoning", "a decision's reasoning", i.decision.reasoning)
        yield text(
            "other_resolution",
            "a decision's description of another action",
            i.decision.other_resolution,
        )
    yield member(r.received_by, "the name of who received a report")
    handles = [i.filed_by] + [n.author for n in i.notes] + [p for n in i.notes for p in n.present]
    handles += [c.member for c in i.conflicts] + [c.declared_by for c in i.conflicts]
    handles += i.decision.approved_by if i.decision else []
    for handle in dict.fromkeys(handles):
        yield member(handle)


def needles(incidents: Sequence[Incident], held: HeldIdentifiers) -> list[Needle]:
    out: list[Needle] = []
    for incident in incidents:
        out += _incident_needles(incident)
    for name, _role in held.members:
        out.append(Needle("member", "a team member's name", None, _name_probes(name), True))
    for kind, normalised in held.identities:
        if kind == "email":
            out.append(
                Needle(
                    "attendee_email",
                    "an attendee's e-mail address",
                    None,
                    (Probe("email", (normalised,)),),
                )
            )
        else:
            out.append(
                Needle(
                    "attendee_name",
                    "an attendee's name",
                    None,
                    (Probe("window", tuple(normalised.split())),),
                    True,
                )
            )
    for ref in held.refs:
        if _GENERATED_REF.match(ref) or not (
            (any(ch.isalpha() for ch in ref) and len(ref) >= 3)
            or sum(ch.isdigit() for ch in ref) >= 6
        ):
            continue
        out.append(
            Needle(
                "attendee_ref",
                "an attendee's ticket reference",
                None,
                (Probe("seq", tuple(tokens(ref))),),
            )
        )
    for ref in held.record_refs:
        out.append(
            Needle("record_ref", "a WG record reference", None, (Probe("seq", tuple(tokens(ref))),))
        )
    return [n for n in out if n.probes]


@dataclass(frozen=True, slots=True)
class Leak:
    needle: Needle
    where: str


def find_leaks(
    rendered: str,
    fixed_wording: Sequence[str],
    named: str,
    chair_texts: Sequence[tuple[str, str]],
    all_needles: Sequence[Needle],
) -> list[Leak]:
    """Needles found in `rendered` that neither `fixed_wording` (texts that reveal no one)
    nor, for attendees and members, `named` (the team names the chair published) explain.
    `chair_texts` ((label, text)) say where a leak sits."""
    out = Haystack(views(rendered))
    fixed = Haystack([v for t in fixed_wording for v in views(t)])
    named_hay = Haystack([named])
    pieces = [(label, Haystack(views(text))) for label, text in chair_texts if text]
    leaks = []
    seen: set[Probe] = set()
    for needle in all_needles:
        for probe in needle.probes:
            if probe in seen or not out.has(probe) or fixed.has(probe):
                continue
            if needle.public_where_named and named_hay.has(probe):
                continue
            seen.add(probe)
            where = next((label for label, hay in pieces if hay.has(probe)), "")
            leaks.append(Leak(needle, where))
            break
    return leaks


def check(
    rendered: str,
    fixed_wording: Sequence[str],
    named: str,
    chair_texts: Sequence[tuple[str, str]],
    all_needles: Sequence[Needle],
) -> None:
    """Raise PrivacyLeak, one sentence naming the first leaking field, if there is any."""
    leaks = find_leaks(rendered, fixed_wording, named, chair_texts, all_needles)
    if not leaks:
        return
    first = leaks[0].needle
    where = f" in {leaks[0].where}" if leaks[0].where else ""
    incident = f" (incident {first.incident_id})" if first.incident_id is not None else ""
    more = (
        f", and {len(leaks) - 1} other identifier{'s' if len(leaks) > 2 else ''} too"
        if len(leaks) > 1
        else ""
    )
    log.info(  # the refusal itself is the command's error sentence
        "transparency.refused",
        field=first.code,
        incident_id=first.incident_id,
        leaks=len(leaks),
    )
    raise PrivacyLeak(
        f"the report would reveal {first.label}{incident}{where}{more}; nothing was written",
        first.code,
        first.incident_id,
    )
