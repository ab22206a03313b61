"""`lanyard registry …` against a real registry on loopback, as an operator types it."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import nacl.signing
import pytest

from lanyard.cli.main import main
from lanyard.cli.registry.record_import import default_expiry
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.retention import add_months
from lanyard.registry.server import RunningRegistry


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

    code, out, _ = await lanyard(capsys, "registry", "event", "revoke", *d, "pycon-xx-2027")
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

    code, out, _ = await lanyard(capsys, "registry", "record", "remove", *d, "WG-7")
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
        (["record", "remove", "WG-404"], "no record WG-404 exists"),
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
    registry: RunningRegistry, registry_dir: RegistryDir, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(registry_dir.path)]
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
        capsys, *add, "--ref", "OLD", "--email", "x@example.org", "--expires", "2020-01-01"
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
        capsys, *add, "--ref", "GONE", "--name", "Gone Person", "--expires", "2021-01-01"
    )
    assert code == 0, err
    assert "extended" not in out

    code, out, err = await lanyard(capsys, "registry", "retention", "apply", *d, "--dry-run")
    assert code == 0, err
    assert "would remove 1 record(s)" in " ".join(out.split())
    assert "GONE" in out
    assert "2021-01-01" in out
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
