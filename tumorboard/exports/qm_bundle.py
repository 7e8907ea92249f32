"""The audit evidence bundle as a ZIP (issue 11): a pure renderer, :class:`~tumorboard.qm.bundle.BundleData` in,
bytes out.

Contents: ``zusammenfassung.pdf`` (PDF/A with the figures as vector graphics), each table as CSV (UTF-8 with BOM,
``;``, formula-safe) and as PDF/A, the signed protocol versions and agenda versions as stored, and
``manifest.json`` with every file's SHA-256 and size, the period, the boards, the product version, the indicator
definition versions, who generated it and when. Entries carry a fixed timestamp (the period's last day) and
are written in a fixed order, so the CSV tables of the same period are byte-identical run after run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from tumorboard.conferences.models import Board
from tumorboard.exports.csv import render_csv
from tumorboard.exports.pdf import render_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.i18n import translate
from tumorboard.qm.bundle import BundleData, Table
from tumorboard.qm.charts import render_svg

#: Bumped when the layout of the bundle changes (auditors' tools may read manifest.json).
BUNDLE_FORMAT = 1


def product_version() -> str:
    try:
        return version("tumorboard")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unbekannt"


def _scope(data: BundleData) -> str:
    return data.boards[0].name if len(data.boards) == 1 else f"alle Konferenzen ({len(data.boards)})"


def render_bundle(
    data: BundleData,
    *,
    templates: ExportTemplates,
    generated_by: str,
    generated_at: dt.datetime,
    locale: str = "de",
    progress: Callable[[str, int, int], None] | None = None,
) -> bytes:
    """The ZIP's bytes. ``progress(step, done, total)`` is called per written file."""
    label = data.period.label
    common: dict[str, Any] = {"period_label": label, "scope": _scope(data), "generated_at": generated_at}
    entries: list[tuple[str, bytes]] = []
    by_key = {t.key: t for t in data.tables}
    charts = [
        (
            translate(f.title, locale),
            "data:image/svg+xml;base64,"
            + base64.b64encode(render_svg(f, title=translate(f.title, locale)).encode()).decode("ascii"),
        )
        for f in data.dashboard.figures
    ]
    total = 1 + 2 * len(data.tables) + len(data.files)
    done = 0

    def tick(step: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(step, done, total)

    summary = templates.render(
        "exports/pdf/qm_summary.html",
        indicators=by_key["T0_kennzahlen"],
        charts=charts,
        generated_by=generated_by,
        locale=locale,
        **common,
    )
    entries.append(("zusammenfassung.pdf", render_pdf(summary)))
    tick("Zusammenfassung")
    for table in data.tables:
        entries.append((f"tabellen/{table.key}.csv", render_table_csv(table)))
        tick(table.key)
        html = templates.render("exports/pdf/qm_table.html", table=table, locale=locale, **common)
        entries.append((f"tabellen/{table.key}.pdf", render_pdf(html)))
        tick(table.key)
    for item in data.files:
        entries.append((item.path, item.data))
        tick("Dateien")
    manifest = {
        "format": BUNDLE_FORMAT,
        "product": "tumorboard",
        "product_version": product_version(),
        "period": {"from": data.period.first.isoformat(), "to": data.period.last.isoformat(), "label": label},
        "boards": [{"short_name": b.short_name, "name": b.name} for b in data.boards],
        "indicator_definitions": list(data.definitions),
        "quorum_rules": {b.short_name: _quorum_text(b) for b in data.boards},
        "generated_by": generated_by,
        "generated_at": generated_at.astimezone(dt.UTC).isoformat(),
        "files": [
            {"path": name, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)} for name, body in entries
        ],
    }
    entries.append(("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()))
    stamp = (data.period.last.year, data.period.last.month, data.period.last.day, 0, 0, 0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, body)
    return buffer.getvalue()


def render_table_csv(table: Table) -> bytes:
    return render_csv(table.rows, header=table.header)


def _quorum_text(board: Board) -> list[str]:
    """The quorum rule in force (configuration on the board), as the manifest states it."""
    return [f"{g.kind.value}: {', '.join(d.name for d in g.disciplines)}" for g in board.quorum_groups]
