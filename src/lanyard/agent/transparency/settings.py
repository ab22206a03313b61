"""What the chair enters for the transparency report, kept in transparency.json (0600).

The incident records say what happened; they do not say how big the event was, who the
team chose to name, how people could report, where that was published, what earlier years
looked like or what the post-event survey found. Those come from here (`lanyard event set`,
`lanyard transparency history …`) or from a `[transparency]` table in agent.toml, the
file's values winning. These are the report's only free texts marked public, and even
they pass the privacy check before anything is written. The file also records the day a
final report was written, so the agent can remind the chair when one is overdue.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

from lanyard.agent.datadir import AgentDir
from lanyard.agent.errors import DataDirError, InvalidRequest
from lanyard.agent.transparency import vocabulary
from lanyard.core import files

SETTINGS_FORMAT = "lanyard-transparency-settings/1"
REPORT_FORMAT = "lanyard-transparency/1"
FILE_NAME = "transparency.json"
MAX_COUNT = 10_000_000
MAX_CHANNELS = 2000
MAX_TEAM = 30
MAX_TEAM_ENTRY = 200
MAX_URL = 500
MAX_SURVEY_ITEMS = 20
MAX_SURVEY_ANSWERS = 8
MAX_STATEMENT = 300
MAX_LABEL = 60
_HISTORY_OUTCOMES = frozenset(vocabulary.OUTCOMES)


@dataclass
class HistoryEntry:
    """One earlier year's figures: numbers and fixed vocabulary only."""

    year: int
    reports: int
    in_person: int | None = None
    online: int | None = None
    by_outcome: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    source: str = "entered"  # entered | imported


@dataclass
class SurveyItem:
    statement: str
    answers: dict[str, int]


@dataclass
class Survey:
    respondents: int | None
    items: list[SurveyItem]


@dataclass
class Settings:
    """transparency.json; None means "not set here" (agent.toml may set it)."""

    in_person: int | None = None
    online: int | None = None
    team_public: list[str] | None = None
    team_roles_only: bool | None = None
    reporting_channels: str | None = None
    published_at: str | None = None
    survey: Survey | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    final_written_on: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"format": SETTINGS_FORMAT, **asdict(self)}


# -- checking what comes in ----------------------------------------------------------------


def count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise InvalidRequest(f"{what} must be a whole number from 0 to {MAX_COUNT}, got {value!r}")
    return value


def _optional_count(value: Any, what: str) -> int | None:
    return None if value is None else count(value, what)


def _text(value: Any, what: str, limit: int, one_line: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be text")
    text = value.strip()
    if len(text) > limit:
        raise InvalidRequest(f"{what} is {len(text)} characters; at most {limit}")
    if one_line and ("\n" in text or "\r" in text):
        raise InvalidRequest(f"{what} must be one line")
    return text


def published_at(value: Any) -> str:
    url = _text(value, "the published-at address", MAX_URL)
    if url and (
        not url.startswith(("https://", "http://"))
        or any(ch.isspace() or ch in "\"'<>`" for ch in url)
    ):
        raise InvalidRequest(
            "the published-at address must be one http:// or https:// URL without spaces or quotes"
        )
    return url


def reporting_channels(value: Any) -> str:
    return _text(value, "the reporting channels text", MAX_CHANNELS, one_line=False)


def team_public(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_TEAM:
        raise InvalidRequest(f"the team's public names must be a list of at most {MAX_TEAM}")
    out = [_text(v, "a team entry", MAX_TEAM_ENTRY) for v in value]
    return [v for v in out if v]


def survey(data: Any) -> Survey:
    """A post-event survey's results: {"respondents": N, "results": [{"statement": "…",
    "answers": {"Yes": N, "No": N}}]}."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise InvalidRequest(
            'a survey file must be JSON like {"respondents": 120, "results": '
            '[{"statement": "I knew how to report an incident", "answers": {"yes": 100, '
            '"no": 20}}]}'
        )
    results = data["results"]
    if not 0 < len(results) <= MAX_SURVEY_ITEMS:
        raise InvalidRequest(f"a survey holds 1 to {MAX_SURVEY_ITEMS} results")
    items = []
    for i, item in enumerate(results, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("answers"), dict):
            raise InvalidRequest(f"survey result {i} needs a statement and answers")
        answers = item["answers"]
        if not 0 < len(answers) <= MAX_SURVEY_ANSWERS:
            raise InvalidRequest(f"survey result {i} holds 1 to {MAX_SURVEY_ANSWERS} answers")
        statement = _text(item.get("statement"), f"survey result {i}'s statement", MAX_STATEMENT)
        items.append(
            SurveyItem(
                statement,
                {
                    _text(k, f"an answer of survey result {i}", MAX_LABEL): count(
                        v, f"survey result {i}'s count"
                    )
                    for k, v in answers.items()
                },
            )
        )
    return Survey(_optional_count(data.get("respondents"), "respondents"), items)


def history_entry(data: Any, source: str) -> HistoryEntry:
    if not isinstance(data, dict):
        raise InvalidRequest("a history entry must be a JSON object")
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2200:
        raise InvalidRequest(f"a history year must be a year like 2025, got {year!r}")
    by_outcome = data.get("by_outcome") or {}
    by_category = data.get("by_category") or {}
    if not isinstance(by_outcome, dict) or not isinstance(by_category, dict):
        raise InvalidRequest("by_outcome and by_category must be JSON objects")
    for key in by_outcome:
        if key not in _HISTORY_OUTCOMES:
            raise InvalidRequest(
                f"unknown outcome {key!r}; choose from {', '.join(vocabulary.OUTCOMES)}"
            )
    for key in by_category:
        if key not in vocabulary.BY_NAME:
            raise InvalidRequest(
                f"unknown category {key!r}; choose from "
                f"{', '.join(c.name for c in vocabulary.CATEGORIES)}"
            )
    return HistoryEntry(
        year=year,
        reports=count(data.get("reports"), f"{year}'s reports"),
        in_person=_optional_count(data.get("in_person"), f"{year}'s in-person attendance"),
        online=_optional_count(data.get("online"), f"{year}'s online attendance"),
        by_outcome={k: count(v, f"{year}'s {k} count") for k, v in by_outcome.items()},
        by_category={k: count(v, f"{year}'s {k} count") for k, v in by_category.items()},
        source=source,
    )


def entries_from_report(data: Any, include_history: bool) -> list[HistoryEntry]:
    """An earlier Lanyard report's JSON as history: its own year's figures, and with
    `include_history` the earlier years it carried."""
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise InvalidRequest(
            f"this is not the JSON of a Lanyard transparency report ({REPORT_FORMAT}); "
            "enter other years with `lanyard transparency history add`"
        )
    try:
        event = data["event"]
        stats = data["statistics"]
        starts = event.get("starts_on") or event.get("ends_on")
        year = date.fromisoformat(starts).year if starts else None
        own = {
            "year": year,
            "reports": stats["reports"],
            "in_person": event.get("in_person"),
            "online": event.get("online"),
            "by_outcome": stats.get("by_outcome"),
            "by_category": stats.get("by_category"),
        }
        carried = data.get("history", []) if include_history else []
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidRequest(f"the report's JSON lacks its figures: {exc}") from exc
    if not isinstance(carried, list):
        raise InvalidRequest("the report's history must be a list")
    return [history_entry(own, "imported")] + [history_entry(e, "imported") for e in carried]


def _validated(data: dict[str, Any], source: str) -> Settings:
    """Settings from transparency.json's or agent.toml's values; InvalidRequest names the
    first bad field."""
    try:
        s = Settings(
            in_person=_optional_count(data.get("in_person"), "in_person"),
            online=_optional_count(data.get("online"), "online"),
            team_public=None
            if data.get("team_public") is None
            else team_public(data["team_public"]),
            team_roles_only=None
            if data.get("team_roles_only") is None
            else bool(data["team_roles_only"]),
            reporting_channels=None
            if data.get("reporting_channels") is None
            else reporting_channels(data["reporting_channels"]),
            published_at=None
            if data.get("published_at") is None
            else published_at(data["published_at"]),
            survey=None if data.get("survey") is None else _stored_survey(data["survey"]),
            history=[
                history_entry(e, str(e.get("source", "entered"))) for e in data.get("history") or []
            ],
            final_written_on=data.get("final_written_on"),
        )
        if s.final_written_on is not None:
            date.fromisoformat(str(s.final_written_on))
    except (InvalidRequest, AttributeError, TypeError, ValueError) as exc:
        raise DataDirError(f"{source}: {exc}") from exc
    return s


def _stored_survey(data: Any) -> Survey:
    if isinstance(data, dict) and "items" in data:  # as stored by to_json
        data = {"respondents": data.get("respondents"), "results": data["items"]}
    return survey(data)


# -- the file ------------------------------------------------------------------------------


def path(adir: AgentDir) -> Path:
    return adir.path / FILE_NAME


def load_stored(adir: AgentDir) -> Settings:
    """transparency.json alone (empty Settings when absent)."""
    p = path(adir)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataDirError(f"{p} cannot be read: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != SETTINGS_FORMAT:
        raise DataDirError(f"{p} is not a Lanyard transparency settings file")
    return _validated(data, str(p))


def _from_config(adir: AgentDir) -> Settings:
    if not adir.config_path.exists():
        return Settings()
    try:
        data = tomllib.loads(adir.config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataDirError(f"{adir.config_path} cannot be read: {exc}") from exc
    table = data.get("transparency", {})
    if not isinstance(table, dict):
        raise DataDirError(f"{adir.config_path}: [transparency] must be a table")
    allowed = {"in_person", "online", "team_public", "team_roles_only", "reporting_channels"}
    allowed.add("published_at")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise DataDirError(f"{adir.config_path}: [transparency] has no setting {unknown[0]!r}")
    return _validated(table, f"{adir.config_path} [transparency]")


def load(adir: AgentDir) -> Settings:
    """What the report uses: transparency.json, with agent.toml filling what it leaves unset."""
    stored = load_stored(adir)
    config = _from_config(adir)
    for f in fields(Settings):
        if getattr(stored, f.name) is None:
            setattr(stored, f.name, getattr(config, f.name))
    return stored


def save(adir: AgentDir, settings: Settings) -> None:
    """Atomically, mode 0600: a crash leaves the old file or the new one, whole."""
    data = (json.dumps(settings.to_json(), indent=2, ensure_ascii=False) + "\n").encode()
    files.write_atomically(path(adir), data)


def set_facts(
    adir: AgentDir,
    *,
    in_person: int | None = None,
    online: int | None = None,
    team_public_names: list[str] | None = None,
    team_roles_only: bool | None = None,
    channels: str | None = None,
    published: str | None = None,
    survey_results: Any = None,
    clear_survey: bool = False,
) -> Settings:
    """`lanyard event set` (and the demo): change what is given, check it, save it."""
    stored = load_stored(adir)
    if in_person is not None:
        stored.in_person = count(in_person, "in-person attendance")
    if online is not None:
        stored.online = count(online, "online attendance")
    if team_public_names is not None:
        stored.team_public = team_public(team_public_names)
    if team_roles_only is not None:
        stored.team_roles_only = team_roles_only
    if channels is not None:
        stored.reporting_channels = reporting_channels(channels)
    if published is not None:
        stored.published_at = published_at(published)
    if survey_results is not None:
        stored.survey = survey(survey_results)
    if clear_survey:
        stored.survey = None
    save(adir, stored)
    return stored


def put_history(settings: Settings, entries: list[HistoryEntry]) -> list[int]:
    """Add or replace entries by year; returns the years that were replaced."""
    replaced = []
    for entry in entries:
        before = len(settings.history)
        settings.history = [h for h in settings.history if h.year != entry.year]
        if len(settings.history) != before:
            replaced.append(entry.year)
        settings.history.append(entry)
    settings.history.sort(key=lambda h: h.year)
    return replaced
