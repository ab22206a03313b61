"""scripts/mutation.toml stays true to the tree: every module and test it names exists,
and every survivor it accepts as equivalent is still a line of its module (a changed line
must be judged again, not stay accepted by default)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG: dict[str, Any] = tomllib.loads((ROOT / "scripts" / "mutation.toml").read_text())
MODULES: dict[str, Any] = CONFIG["modules"]


def test_the_security_critical_modules_are_all_there() -> None:
    paths = {m["path"] for m in MODULES.values()}
    for needed in (
        "src/lanyard/core/auth.py",
        "src/lanyard/core/envelope.py",
        "src/lanyard/core/merkle.py",
        "src/lanyard/core/snapshot.py",
        "src/lanyard/registry/service.py",
        "src/lanyard/agent/incidents/rules.py",
        "src/lanyard/agent/incidents/crypto.py",
        "src/lanyard/agent/screening/decision.py",
        "src/lanyard/agent/transparency/privacy.py",
    ):
        assert needed in paths


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_and_its_tests_exist(name: str) -> None:
    module = MODULES[name]
    assert (ROOT / module["path"]).is_file(), module["path"]
    assert module["tests"], name
    for test in module["tests"]:
        assert (ROOT / test.split("::", 1)[0]).exists(), test


@pytest.mark.parametrize("name", sorted(n for n in MODULES if MODULES[n].get("accepted")))
def test_each_accepted_survivor_is_still_in_its_module(name: str) -> None:
    lines = {line.strip() for line in (ROOT / MODULES[name]["path"]).read_text().splitlines()}
    for accepted in MODULES[name]["accepted"]:
        assert accepted["line"].strip() in lines, accepted
        assert accepted["why"].strip(), accepted
        re.compile(accepted["operator"])


def test_the_operator_filters_compile() -> None:
    for pattern in CONFIG["defaults"]["exclude-operators"]:
        re.compile(pattern)
