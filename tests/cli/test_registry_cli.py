"""`lanyard registry …` against a real registry on loopback, as an operator types it."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from datetime import date, timedelta
from pathlib import Path

import nacl.signing
import pytest

from lanyard.cli.main import main
from lanyard.cli.registry.record_file import read_records
from lanyard.cli.registry.record_import import default_expiry
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.retention import add_months
from lanyard.registry.server import RunningRegistry
from tests.registry.days import Calendar


async def lanyard(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in a thread (it runs its own event loop) while the registry serves."""
    capsys.readouterr()
    try:
        await asyncio.to_thread(main, list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


async def test_operator_workflow(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    key = nacl.signing.SigningKey.generate()
    bundle = tmp_path / "bundle.json"
    code, out, err = await lanyard(
        capsys,
        "registry",
        "event",
        "enroll",
        *d,
        "--id",
        "pycon-xx-2027",
        "--name",
        "PyCon XX",
        "--starts",
        "2027-06-01",
        "--ends",
        "2027-06-03",
        "--public-key",
        bytes(key.verify_key).hex(),
        "--quota",
        "500",
        "--out",
        str(bundle),
    )
    assert code == 0, err
    data = json.loads(bundle.read_text())
    assert data["event_id"] == "pycon-xx-2027"
    assert data["endpoint"] == registry.address
    assert data["registry_public_key"] == registry.service.public_key.hex()

    code, out, err = await lanyard(
        capsys,
        "registry",
        "record",
        "add",
        *d,
        "--ref",
        "WG-7",
        "--status",
        "banned",
        "--email",
        "someone@example.org",
        "--name",
        "Some One",
        "--ban-until",
        "2028-01-31",
        "--json",
    )
    assert code == 0, err
    added = json.loads(out)
    assert added["identifiers"] == 2
    assert added["expires_on"] == "2030-03-31"

    code, out, err = await lanyard(capsys, "registry", "record", "list", *d, "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert [r["record_ref"] for r in listing["records"]] == ["WG-7"]
    assert "someone" not in out
    assert "Some One" not in out

    code, out, _ = await lanyard(capsys, "registry", "record", "list", *d)
    assert "WG-7" in out
    assert "banned" in out

    code, out, _ = await lanyard(capsys, "registry", "event", "list", *d, "--json")
    assert json.loads(out)[0]["quota"] == 500

    code, out, _ = await lanyard(
        capsys, "registry", "event", "revoke", *d, "pycon-xx-2027", "--yes"
    )
    assert code == 0
    code, out, _ = await lanyard(capsys, "registry", "event", "list", *d)
    assert "revoked" in out

    code, out, err = await lanyard(
        capsys, "registry", "record", "update", *d, "WG-7", "--status", "flagged", "--json"
    )
    assert code != 0
    assert "--ban-until is for banned records only" in err
    code, out, err = await lanyard(
        capsys, "registry", "record", "update", *d, "WG-7", "--ban-until", "none", "--json"
    )
    assert code == 0, err
    assert (json.loads(out)["ban_until"], json.loads(out)["expires_on"]) == (None, None)
    code, out, err = await lanyard(capsys, "registry", "record", "show", *d, "WG-7", "--json")
    assert code == 0, err
    assert json.loads(out)["history"][-1]["detail"] == (
        "ban until 2028-01-31 -> none; expires 2030-03-31 -> never"
    )
    code, out, err = await lanyard(capsys, "registry", "record", "show", *d, "WG-7")
    assert "History of WG-7" in out
    assert "someone" not in out

    code, out, _ = await lanyard(capsys, "registry", "record", "remove", *d, "WG-7", "--yes")
    assert code == 0
    code, out, _ = await lanyard(capsys, "registry", "record", "list", *d, "--json")
    assert json.loads(out)["records"] == []


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ["record", "add", "--ref", "R", "--status", "maybe", "--name", "A B"],
            "--status must be flagged or banned",
        ),
        (["record", "add", "--ref", "R", "--status", "flagged"], "at least one --email or --name"),
        (["record", "update", "R"], "Nothing to change"),
        (["record", "update", "WG-404", "--status", "banned"], "no record WG-404 exists"),
        (["record", "show", "WG-404"], "no record WG-404 exists"),
        (["record", "update", "R", "--alias-email", "nope"], "Alias number 1"),
        (
            ["record", "add", "--ref", "R", "--status", "flagged", "--email", "not-an-address"],
            "--email number 1",
        ),
        (
            [
                "record",
                "add",
                "--ref",
                "R",
                "--status",
                "flagged",
                "--name",
                "A",
                "--expires",
                "soon",
            ],
            "--expires must be a date",
        ),
        (["record", "remove", "WG-404", "--yes"], "no record WG-404 exists"),
        (
            [
                "event",
                "enroll",
                "--id",
                "x-1",
                "--name",
                "X",
                "--starts",
                "2027-01-01",
                "--ends",
                "2027-01-02",
                "--public-key",
                "abcd",
            ],
            "--public-key must be 64 hex digits",
        ),
    ],
)
async def test_mistakes_are_one_sentence(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    sentence: str,
) -> None:
    code, _, err = await lanyard(
        capsys, "registry", *argv[:2], "--data-dir", str(registry_dir.path), *argv[2:]
    )
    assert code == 1
    assert sentence in err
    assert err.startswith("Error:")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


async def test_registry_down_is_one_sentence(
    registry_dir: RegistryDir, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await lanyard(
        capsys,
        "registry",
        "record",
        "list",
        "--data-dir",
        str(registry_dir.path),
        "--endpoint",
        "127.0.0.1:9",
    )
    assert code == 1
    assert "Cannot reach the registry at 127.0.0.1:9" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("status", "ban_until", "today", "expected"),
    [
        ("flagged", None, date(2026, 11, 21), date(2029, 1, 21)),
        ("flagged", None, date(2027, 12, 31), date(2030, 2, 28)),
        ("banned", date(2028, 1, 31), date(2026, 1, 1), date(2030, 3, 31)),
        ("banned", None, date(2026, 1, 1), None),
    ],
)
def test_default_expiry_follows_retention(
    status: str, ban_until: date | None, today: date, expected: date | None
) -> None:
    assert default_expiry(status, ban_until, today) == expected


async def test_key_rotate(
    registry: RunningRegistry, registry_dir: RegistryDir, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    code, out, err = await lanyard(capsys, "registry", "key", "rotate", *d, "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["epoch"] == 2
    assert registry.service.epoch == 2
    assert not registry_dir.oprf_key_path(1).exists()


async def test_retention_show_set_preview_apply_and_the_repeat_rule(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    capsys: pytest.CaptureFixture[str],
    calendar: Calendar,
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    # After today both here (local) and at the registry (UTC).
    tomorrow = (max(date.today(), calendar.day) + timedelta(days=1)).isoformat()
    code, out, err = await lanyard(capsys, "registry", "retention", "show", *d, "--json")
    assert code == 0, err
    assert json.loads(out) == {"flagged_months": 26, "banned_months_after_ban": 26}
    code, out, err = await lanyard(
        capsys, "registry", "retention", "set", *d, "--flagged-months", "18"
    )
    assert code == 0, err
    assert "kept 18 months" in out
    add = ["registry", "record", "add", *d, "--status", "flagged"]
    code, out, err = await lanyard(
        capsys, *add, "--ref", "OLD", "--email", "x@example.org", "--expires", tomorrow
    )
    assert code == 0, err
    code, out, err = await lanyard(
        capsys, *add, "--ref", "NEW", "--email", "x@example.org", "--json"
    )
    assert code == 0, err
    added = json.loads(out)
    assert added["extended"] == ["OLD"]
    assert added["expires_on"] == add_months(date.today(), 18).isoformat()
    code, out, err = await lanyard(
        capsys, *add, "--ref", "GONE", "--name", "Gone Person", "--expires", tomorrow
    )
    assert code == 0, err
    assert "extended" not in out
    calendar.advance(7)  # a week on, at the registry: GONE has lapsed

    code, out, err = await lanyard(capsys, "registry", "retention", "apply", *d, "--dry-run")
    assert code == 0, err
    assert "would remove 1 record(s)" in " ".join(out.split())
    assert "GONE" in out
    assert tomorrow in out
    assert "OLD" not in out  # the repeat extended it
    code, preview, err = await lanyard(
        capsys, "registry", "retention", "apply", *d, "--dry-run", "--json"
    )
    code, applied, err = await lanyard(capsys, "registry", "retention", "apply", *d, "--json")
    assert code == 0, err
    assert json.loads(preview)["records"] == json.loads(applied)["records"]
    assert [r["record_ref"] for r in json.loads(applied)["records"]] == ["GONE"]
    code, _, err = await lanyard(
        capsys, "registry", "retention", "apply", *d, "--as-of", "2999-01-01"
    )
    assert code == 1
    assert "only a dry run may look ahead" in err


async def test_key_rotate_signing(
    registry: RunningRegistry, registry_dir: RegistryDir, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    old = bytes(registry_dir.signing_key().verify_key)
    code, out, err = await lanyard(
        capsys, "registry", "key", "rotate", *d, "--signing", "--yes", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert (result["sequence"], result["old_key"]) == (1, old.hex())
    assert bytes(registry_dir.signing_key().verify_key).hex() == result["new_key"]
    assert registry.service.epoch == 1  # the OPRF key did not move


async def test_evaluations_lists_the_log_and_flags_admin_use_without_a_record(
    registry: RunningRegistry, registry_dir: RegistryDir, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    add = ["registry", "record", "add", *d, "--ref", "WG-9", "--status", "flagged"]
    code, _, err = await lanyard(capsys, *add, "--name", "Listed Person")
    assert code == 0, err
    # The same ref again: evaluated, then refused, so no record came of that evaluation.
    code, _, err = await lanyard(capsys, *add, "--name", "Someone Else")
    assert code == 1
    assert "already exists" in err

    code, out, err = await lanyard(capsys, "registry", "evaluations", *d, "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert listing["tree_size"] == 2
    assert [(e["record_ref"], e["flag"]) for e in listing["leaves"]] == [
        ("WG-9", None),
        (None, "admin evaluation without a record added"),
    ]
    assert listing["callers"]["admin:operator"]["calls"] == 2
    assert listing["callers"]["admin:operator"]["flagged"] == 1
    assert "Someone" not in out

    code, out, err = await lanyard(capsys, "registry", "evaluations", *d)
    assert code == 0, err
    assert "1 admin-key evaluation(s) came with no record added" in out
    assert "#1 (admin:operator)" in out

    code, out, err = await lanyard(
        capsys, "registry", "evaluations", *d, "--event", "nobody-2027", "--since", "2027-01-01"
    )
    assert code == 0, err
    assert "No evaluations match." in out
    code, _, err = await lanyard(capsys, "registry", "evaluations", *d, "--since", "soon")
    assert code == 1
    assert "--since must be a date" in err


async def test_record_add_registers_every_variant_and_aliases(
    registry: RunningRegistry, registry_dir: RegistryDir, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    code, out, err = await lanyard(
        capsys, "registry", "record", "add", *d, "--ref", "WG-V", "--status", "flagged",
        "--name", "Jürgen Großmann", "--alias", "Jo Gross", "--json",
    )  # fmt: skip
    assert code == 0, err
    # grossmann juergen, grossmann jurgen (spec §5a), then the alias: gross jo.
    assert json.loads(out)["identifiers"] == 3

    code, out, err = await lanyard(
        capsys, "registry", "record", "add", *d, "--ref", "WG-J", "--status", "flagged",
        "--name", "山田太郎",
    )  # fmt: skip
    assert code == 0, err
    assert "Hint: --name number 1: this name is written without a space" in out
    assert "1 identifier(s)" in out


class FakeTerminal(io.StringIO):
    """Typed answers on a standard input that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("argv", "what", "declined"),
    [
        (["record", "remove", "WG-7"], "remove WG-7", "WG-7 was not removed; nothing changed"),
        (
            ["event", "revoke", "pycon-xx-2027"],
            "revoke pycon-xx-2027",
            "pycon-xx-2027 was not revoked; nothing changed",
        ),
    ],
)
async def test_removing_a_record_and_revoking_an_event_ask_first(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    what: str,
    declined: str,
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    code, _, err = await lanyard(
        capsys, "registry", "record", "add", *d, "--ref", "WG-7", "--status", "banned",
        "--email", "someone@example.org",
    )  # fmt: skip
    assert code == 0, err
    key = nacl.signing.SigningKey.generate()
    code, _, err = await lanyard(
        capsys, "registry", "event", "enroll", *d, "--id", "pycon-xx-2027", "--name", "PyCon",
        "--starts", "2027-06-01", "--ends", "2027-06-03", "--public-key",
        bytes(key.verify_key).hex(), "--quota", "500",
    )  # fmt: skip
    assert code == 0, err
    command = ["registry", *argv[:2], *d, *argv[2:]]

    async def untouched() -> bool:
        records = [r.record_ref for r in (await registry.store.list_records())]
        events = {e.event_id: e for e in await registry.store.list_events()}
        return "WG-7" in records and events["pycon-xx-2027"].revoked_at is None

    # No terminal to ask on, and no --yes: one sentence, nothing done.
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    code, _, err = await lanyard(capsys, *command)
    assert code == 1
    assert f"Give --yes to {what} without a terminal to confirm on." in " ".join(err.split())
    assert await untouched()
    # On a terminal, a "no" (or just Enter) leaves it alone.
    for answer in ("n\n", "\n"):
        monkeypatch.setattr(sys, "stdin", FakeTerminal(answer))
        code, out, err = await lanyard(capsys, *command)
        assert code == 1
        assert declined in " ".join(err.split())
        assert "?" in out  # the question was put
        assert await untouched()
    # A "yes" on the terminal goes ahead.
    monkeypatch.setattr(sys, "stdin", FakeTerminal("y\n"))
    code, _, err = await lanyard(capsys, *command)
    assert code == 0, err
    assert not await untouched()


async def test_an_expiry_that_has_passed_is_refused_naming_its_flag(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
    today = date.today().isoformat()
    add = ["registry", "record", "add", *d, "--ref", "WG-T50", "--email", "old@ban.example"]
    code, _, err = await lanyard(capsys, *add, "--status", "banned", "--ban-until", "2020-01-01")
    assert code == 1
    assert " ".join(err.split()) == (
        "Error: --ban-until 2020-01-01 gives the record an expiry of 2022-03-01 (the "
        f"retention schedule), which is not after today ({today}): give --expires with a "
        "later date."
    )
    for expires in ("2020-01-01", today):
        code, _, err = await lanyard(capsys, *add, "--status", "flagged", "--expires", expires)
        assert code == 1
        assert " ".join(err.split()) == (
            f"Error: --expires {expires} is not after today ({today}): the record would "
            "leave the list at the registry's next sweep."
        )
    # Refused before the blinded round: nothing added, nothing evaluated.
    assert await registry.store.list_records() == []
    assert registry.service.evaluation_log.size == 0

    # The registry's own schedule decides what a ban's end gives.
    code, _, err = await lanyard(
        capsys, "registry", "retention", "set", *d, "--banned-months", "120"
    )
    assert code == 0, err
    code, out, err = await lanyard(
        capsys, *add, "--status", "banned", "--ban-until", "2020-01-01", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["expires_on"] == "2030-01-01"

    update = ["registry", "record", "update", *d, "WG-T50"]
    code, _, err = await lanyard(capsys, *update, "--expires", "2021-06-30")
    assert code == 1
    assert "--expires 2021-06-30 is not after today" in " ".join(err.split())
    code, _, err = await lanyard(capsys, *update, "--ban-until", "2010-01-01")
    assert code == 1
    assert "--ban-until 2010-01-01 gives the record an expiry of" in " ".join(err.split())
    shown = await registry.store.get_record("WG-T50")
    assert shown is not None
    assert (shown.ban_until, shown.expires_on) == (date(2020, 1, 1), date(2030, 1, 1))

    # A file's row with a lapsed expiry, written or derived (by the registry's schedule,
    # now 120 months after a ban's end), is refused by its line.
    listing = tmp_path / "wg-list.csv"
    listing.write_text(
        "ref,status,email,expires,ban_until\n"
        "WG-A,flagged,a@example.org,2020-01-01,\n"
        "WG-B,banned,b@example.org,,2010-01-01\n"
        "WG-C,flagged,c@example.org,,\n",
        encoding="utf-8",
    )
    code, out, err = await lanyard(capsys, "registry", "record", "import", *d, str(listing))
    assert code == 1
    text = " ".join((out + err).split())
    assert f"line 2: expires 2020-01-01 is not after today ({today})" in text
    assert "line 3: ban_until 2010-01-01 gives the record an expiry of 2020-01-01" in text
    assert {r.record_ref for r in await registry.store.list_records()} == {"WG-T50", "WG-C"}


def test_a_file_row_whose_expiry_has_passed_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "wg-list.csv"
    listing.write_text(
        "ref,status,email,expires,ban_until\n"
        "WG-A,flagged,a@example.org,2027-03-01,\n"  # today itself: no day left to run
        "WG-B,banned,b@example.org,,2025-01-31\n"  # +26 months: 2027-03-31, still ahead
        "WG-C,banned,c@example.org,,2025-01-01\n"  # +26 months: 2027-03-01, today
        "WG-D,flagged,d@example.org,2027-03-02,\n",
        encoding="utf-8",
    )
    parsed, refused = read_records(listing, date(2027, 3, 1), 64, default_expiry)
    assert [p.record.record_ref for p in parsed] == ["WG-B", "WG-D"]
    assert [(r.where, r.reason) for r in refused] == [
        (
            "line 2",
            "expires 2027-03-01 is not after today (2027-03-01): the record would leave the "
            "list at the registry's next sweep",
        ),
        (
            "line 4",
            "ban_until 2025-01-01 gives the record an expiry of 2027-03-01 (the retention "
            "schedule), which is not after today (2027-03-01): give expires with a later date",
        ),
    ]


async def test_the_wg_registers_an_address_as_events_read_it(
    registry: RunningRegistry,
    registry_dir: RegistryDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pasted address is unwrapped as an event's screening unwraps it, and text that is
    no address is refused: a record under `dana@example.net>` would match no one."""
    d = ["--data-dir", str(registry_dir.path)]
    code, _, err = await lanyard(
        capsys, "registry", "record", "add", *d, "--ref", "WG-A", "--status", "banned",
        "--email", "dana@example.net>",
    )  # fmt: skip
    assert code == 1
    assert "--email number 1: e-mail address has a character no domain has" in err
    code, _, err = await lanyard(
        capsys, "registry", "record", "add", *d, "--ref", "WG-A", "--status", "banned",
        "--email", "Dana Quill <Dana.Quill@example.net>",
    )  # fmt: skip
    assert code == 0, err
    path = tmp_path / "records.csv"
    path.write_text(
        "ref,status,email\nWG-B,flagged,mailto:sam@example.org\nWG-C,flagged,sam@example\n",
        encoding="utf-8",
    )
    parsed, refused = read_records(path, date(2026, 1, 1), 64, default_expiry)
    assert [(p.record.record_ref, p.record.identifiers[0].value) for p in parsed] == [
        ("WG-B", "sam@example.org")
    ]
    assert [(r.where, r.reason) for r in refused] == [
        ("line 3", "email number 1: e-mail address has no dot in its domain")
    ]
