"""`lanyard registry record add --from-submission`: from an end-of-event report to records.

The WG member opens the report on their own machine (submissions.py), chooses
people it names, and adds a record for each through the blinded round, so names go from
this machine into blinded points only. Names are printed to the member's terminal when
asked for and never reach a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.markup import escape

from lanyard.cli.output import CliError, console, emit_json, table
from lanyard.cli.registry.common import refuse_lapsed, schedule_expiry
from lanyard.cli.registry.submissions import Opened, open_as_member
from lanyard.client.admin import AdminClient, Identifier
from lanyard.core.errors import Error as CoreError
from lanyard.core.identity import Kind, normalize


@dataclass
class Person:
    name: str
    reported_in: list[int] = field(default_factory=list)
    bad_actor_in: list[int] = field(default_factory=list)  # in a final decision
    proposed_in: list[int] = field(default_factory=list)  # awaiting a second approval

    @property
    def named_as(self) -> str:
        roles = (
            ("reported", self.reported_in),
            ("bad actor", self.bad_actor_in),
            ("proposed bad actor", self.proposed_in),
        )
        return ", ".join(label for label, where in roles if where)

    @property
    def incidents(self) -> str:
        found = {*self.reported_in, *self.bad_actor_in, *self.proposed_in}
        return ", ".join(str(i) for i in sorted(found))


def people_named(report: dict[str, Any]) -> list[Person]:
    """Everyone the report names as reported or as a bad actor, once each, in order."""
    people: dict[str, Person] = {}

    def person(name: str) -> Person:
        try:
            key = normalize(Kind.NAME, name)
        except CoreError:
            key = name.strip()
        return people.setdefault(key, Person(name.strip()))

    for incident in report.get("incidents", []):
        number = int(incident["incident_id"])
        for p in incident["report"]["reported_people"]:
            if p["name"].strip():
                person(p["name"]).reported_in.append(number)
        decision = incident.get("decision")
        for name in decision["bad_actors"] if decision else []:
            if name.strip():
                who = person(name)
                (who.bad_actor_in if decision["final"] else who.proposed_in).append(number)
    return list(people.values())


def choose(people: list[Person], wanted: list[str], all_bad_actors: bool) -> list[int]:
    """1-based numbers of the chosen people: by number or by name, plus every bad actor."""
    chosen = [n for n, p in enumerate(people, 1) if all_bad_actors and p.bad_actor_in]
    by_name: dict[str, int] = {}
    for n, p in enumerate(people, 1):
        try:
            by_name[normalize(Kind.NAME, p.name)] = n
        except CoreError:
            continue
    for value in wanted:
        number = int(value) if value.isdigit() else None
        if number is None:
            try:
                number = by_name.get(normalize(Kind.NAME, value))
            except CoreError:
                number = None
        if number is None or not 1 <= number <= len(people):
            raise CliError(
                f"--person {value[:40]!r} is not one of the {len(people)} people the report "
                "names; run without --person to list them"
            )
        chosen.append(number)
    return list(dict.fromkeys(chosen))


def show_people(opened: Opened, people: list[Person], json_out: bool) -> None:
    if json_out:
        emit_json(
            [
                {
                    "number": n,
                    "name": p.name,
                    "reported_in": p.reported_in,
                    "bad_actor_in": p.bad_actor_in,
                    "proposed_bad_actor_in": p.proposed_in,
                }
                for n, p in enumerate(people, 1)
            ]
        )
        return
    table(
        f"People named in submission {opened.submission_id[:12]} ({escape(opened.event_id)})",
        ["#", "name", "named as", "incidents"],
        [(n, p.name, p.named_as, p.incidents) for n, p in enumerate(people, 1)],
    )
    console.print("Choose with --person N (repeatable) or --all-bad-actors to add records.")


async def add_person_records(
    client: AdminClient,
    people: list[tuple[int, str, str]],  # (number, name, record ref)
    status: str,
    expires_on: date | None,
    json_out: bool,
    submission_id: str = "",
    ban_until: date | None = None,
) -> list[dict[str, Any]]:
    """One record per person, each through the blinded round: names stay on this machine.
    Each record is linked to `submission_id`, the report it comes from."""
    added: list[dict[str, Any]] = []
    for number, name, ref in people:
        response = await client.add_record(
            ref,
            status,
            [Identifier(Kind.NAME, name)],
            expires_on,
            ban_until=ban_until,
            submission_id=submission_id,
        )
        row = {
            "person": number,
            "record_ref": response.record.record_ref,
            "status": status,
            "identifiers": response.record.identifier_count,
            "expires_on": expires_on.isoformat() if expires_on else None,
            "snapshot_version": int(response.snapshot_version),
            "submission_id": response.record.submission_id,
        }
        added.append(row)
        if not json_out:
            lapses = f"expires {row['expires_on']}" if expires_on else "no expiry"
            console.print(
                f"Added {escape(str(row['record_ref']))} for person {number} ({status}, "
                f"{lapses}); snapshot version {row['snapshot_version']}."
            )
    return added


def records_from_submission(
    data_dir: Path,
    endpoint: str | None,
    wanted: str,
    wg_key: Path | None,
    passphrase_file: Path | None,
    persons: list[str],
    all_bad_actors: bool,
    status: str,
    expires_on: date | None,
    ref: str | None,
    ref_prefix: str | None,
    json_out: bool,
    ban_until: date | None = None,
) -> None:
    """`registry record add --from-submission`: open the report here, list or add people."""
    session, opened = open_as_member(data_dir, endpoint, wanted, wg_key, passphrase_file)
    people = people_named(opened.report)
    chosen = choose(people, persons, all_bad_actors)
    if not chosen:
        if not people:
            raise CliError(f"submission {opened.submission_id[:12]} names nobody")
        if all_bad_actors:
            raise CliError(
                f"submission {opened.submission_id[:12]} names no bad actor in a final "
                "decision; choose people with --person N"
            )
        show_people(opened, people, json_out)
        return
    if ref is not None and len(chosen) > 1:
        raise CliError(
            f"--ref names one record but {len(chosen)} people are chosen; use --ref-prefix"
        )
    prefix = ref_prefix or opened.submission_id[:8]
    todo = [(n, people[n - 1].name, ref or f"{prefix}-{n}") for n in chosen]
    for number, name, _ in todo:
        try:
            normalize(Kind.NAME, name)
        except CoreError as exc:
            raise CliError(f"person {number} cannot be recorded: {exc}") from exc

    async def add(client: AdminClient) -> list[dict[str, Any]]:
        expiry = expires_on
        if expiry is None:
            # The registry's own schedule, as `record add` without --expires.
            today = date.today()
            expiry = await schedule_expiry(client, status, ban_until, today)
            refuse_lapsed(expiry, today, ban_until, "--ban-until")
        return await add_person_records(
            client, todo, status, expiry, json_out, opened.submission_id, ban_until
        )

    added = session.run(add)
    if json_out:
        emit_json(added)
        return
    console.print(
        f"When the WG is done, mark it: `lanyard registry submission ack "
        f"{opened.submission_id[:12]} --step recorded`."
    )
