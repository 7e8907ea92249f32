"""Fill English translations into the catalog: ``python scripts/translate.py FILE.json`` where the JSON maps German
msgids to English; without an argument, list the msgids that still lack a translation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parents[1] / "tumorboard/translations/en/LC_MESSAGES/messages.po"


def main() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f)
    if len(sys.argv) == 1:
        missing = {m.id: "" for m in catalog if m.id and (not m.string or m.fuzzy)}
        print(json.dumps(missing, ensure_ascii=False, indent=1))
        return
    for msgid, text in json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")).items():
        message = catalog[msgid]
        message.string, message.flags = text, set()
    with PO.open("wb") as f:
        write_po(f, catalog, width=110)


if __name__ == "__main__":
    main()
