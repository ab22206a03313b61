"""The `lanyard` command imports only what the sub-command it runs needs, and its
top-level help, built without importing any sub-command, says what each one's own says."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import typer

from lanyard.cli import main as cli_main

PROBE = """
import sys
from lanyard.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
print(",".join(sorted(m for m in sys.modules if m.startswith("lanyard."))), file=sys.stderr)
"""


def _modules_after(argv: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stderr.strip().splitlines()[-1].split(","))


def test_top_level_help_imports_no_sub_command() -> None:
    loaded = _modules_after(["--help"])
    assert "lanyard.cli.main" in loaded
    assert not {m for m in loaded if m.startswith(("lanyard.agent", "lanyard.registry"))}


def test_screen_imports_neither_registry_nor_demo() -> None:
    loaded = _modules_after(["screen", "--help"])
    assert "lanyard.cli.screening.commands" in loaded
    assert not {m for m in loaded if m.startswith("lanyard.registry")}
    assert "lanyard.cli.demo" not in loaded
    assert "lanyard.agent.server" not in loaded


@pytest.mark.parametrize("name", sorted(cli_main.COMMANDS))
def test_listed_help_is_the_commands_own(name: str) -> None:
    module, attr, group, text = cli_main.COMMANDS[name]
    target = getattr(importlib.import_module(module), attr)
    if group:
        assert isinstance(target, typer.Typer)
        own = target.info.help
    else:
        own = (target.__doc__ or "").strip().splitlines()[0]
    assert own == text


def test_subgroups_join_their_group_once() -> None:
    for _ in range(2):  # main() builds the app on every call: no group is added twice
        agent = next(
            g for g in cli_main.build_app(["agent"]).registered_groups if g.name == "agent"
        )
        assert agent.typer_instance is not None
        names = [g.name for g in agent.typer_instance.registered_groups]
        assert names.count("webhooks") == 1


def test_commands_from_other_modules_join_their_group_once() -> None:
    for _ in range(2):
        app = cli_main.build_app(["registry", "agent", "incident"])
        groups = {g.name: g.typer_instance for g in app.registered_groups}
        for group, wanted in [
            ("registry", ["backup", "restore"]),
            ("agent", ["backup", "restore"]),
            ("incident", ["attach", "attachments", "get-attachment"]),
        ]:
            target = groups[group]
            assert target is not None
            names = [c.name for c in target.registered_commands]
            assert all(names.count(w) == 1 for w in wanted), (group, names)
