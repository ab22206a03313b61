"""`lanyard incident attach | attachments | get-attachment` as team members type them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.test_incident_cli import Team, build_team, ok, refused, team  # noqa: F401


async def test_attach_list_and_fetch(team: Team, tmp_path: Path) -> None:  # noqa: F811
    await build_team(team)
    out = ok(await team.run("vic", "incident", "new", "--description", "Slack DMs after the talk"))
    assert "1" in out
    shot = tmp_path / "dm.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    out = ok(await team.run("vic", "incident", "attach", "1", str(shot), "--note", "DM at 14:02"))
    assert "image/png" in out
    listing = json.loads(ok(await team.run("ana", "incident", "attachments", "1", "--json")))
    assert [(a["name"], a["type"], a["bytes"], a["added_by"]) for a in listing] == [
        ("dm.png", "image/png", 2008, "vic")
    ]
    back = tmp_path / "back.png"
    out = ok(await team.run("ana", "incident", "get-attachment", "1", "1", "--out", str(back)))
    assert back.read_bytes() == shot.read_bytes()
    refused(
        await team.run("ana", "incident", "get-attachment", "1", "1", "--out", str(back)),
        "already exists",
    )
    refused(await team.run("vic", "incident", "attachments", "1"), "volunteer")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ" + bytes(500))
    refused(await team.run("ana", "incident", "attach", "1", str(exe)), "only images")
