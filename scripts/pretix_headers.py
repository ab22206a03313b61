#!/usr/bin/env python3
"""Regenerate src/lanyard/agent/screening/data/pretix_headers.json from an installed pretix.

pretix writes its export headers in the organiser's language. This reads the translations
of the header strings Lanyard's column detection needs from pretix's own compiled
catalogues (locale/<lang>/LC_MESSAGES/django.mo) and writes them as data, so detection
knows every language pretix ships without running pretix.

Usage (pretix needs no dependencies for this; install it outside the project):
    python -m venv /tmp/pretix-venv && /tmp/pretix-venv/bin/pip install --no-deps pretix
    python scripts/pretix_headers.py /tmp/pretix-venv
"""

from __future__ import annotations

import gettext
import json
import sys
from pathlib import Path

# (context or "", msgid) of every header string detection uses (pretix's order list
# exporters and its person-name schemes).
MSGIDS: list[tuple[str, str]] = [
    ("", "Attendee name"),
    ("", "Attendee email"),
    ("", "Email"),
    ("", "Order code"),
    ("", "Name"),
    ("", "Invoice address name"),
    ("", "Given name"),
    ("", "First name"),
    ("", "Family name"),
    ("", "Middle name"),
    ("", "Full name"),
    ("", "Calling name"),
    ("", "Latin transcription"),
    ("person_name", "Title"),
    ("person_name", "Salutation"),
    ("person_name", "Degree (after name)"),
]

OUT = Path(__file__).resolve().parent.parent / "src" / "lanyard" / "agent" / "screening" / "data"


def find_locale(root: Path) -> tuple[Path, str]:
    for init in sorted(root.glob("lib/python*/site-packages/pretix/__init__.py")):
        version = init.read_text(encoding="utf-8").split('__version__ = "', 1)[-1].split('"')[0]
        return init.parent / "locale", version
    raise SystemExit(f"no pretix installed under {root}")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    locale, version = find_locale(Path(sys.argv[1]))
    strings: dict[str, dict[str, str]] = {}
    for context, msgid in MSGIDS:
        key = f"{context}|{msgid}" if context else msgid
        found: dict[str, str] = {"en": msgid}
        for mo in sorted(locale.glob("*/LC_MESSAGES/django.mo")):
            lang = mo.parent.parent.name
            with mo.open("rb") as fh:
                catalogue = gettext.GNUTranslations(fh)
            text = catalogue.pgettext(context, msgid) if context else catalogue.gettext(msgid)
            if text and text != msgid:
                found[lang] = text
        strings[key] = found
    data = {"source": f"pretix {version}, locale/*/LC_MESSAGES/django.mo", "strings": strings}
    OUT.mkdir(exist_ok=True)
    target = OUT / "pretix_headers.json"
    target.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}: {sum(len(v) for v in strings.values())} strings")


if __name__ == "__main__":
    main()
