"""The audit evidence bundle as a ZIP (issue 11): :class:`~tumorboard.qm.bundle.BundleData` in, a ZIP file out,
written entry by entry to a temporary file (never the whole archive, nor all stored PDFs, in memory).

Contents: ``zusammenfassung.pdf`` (PDF/A with the figures as vector graphics; WeasyPrint), each table as CSV (UTF-8
with BOM, ``;``, formula-safe) and as PDF/A (fpdf2, :mod:`tumorboard.exports.pdf_table`: WeasyPrint needed minutes
for the case log of a year), the signed protocol versions and agenda versions as stored, and
``manifest.json`` with every file's SHA-256 and size, the period, the boards, the product version, the indicator
definition versions, who generated it and when. Entries carry a fixed timestamp (the period's last day) and
are written in a fixed order, so the CSV tables of the same period are byte-identical run after run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board
from tumorboard.exports.csv import render_csv
from tumorboard.exports.pdf import render_pdf
from tumorboard.exports.pdf_table import render_table_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.i18n import N_, translate
from tumorboard.qm.bundle import BundleData, Table
from tumorboard.qm.charts import render_svg
from tumorboard.qm.services import ChartKind

#: Bumped when the layout of the bundle changes (auditors' tools may read manifest.json).
BUNDLE_FORMAT = 1


def product_version() -> str:
    try:
        return version("tumorboard")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unbekannt"


def _scope(data: BundleData) -> str:
    return data.boards[0].name if len(data.boards) == 1 else f"alle Konferenzen ({len(data.boards)})"


@dataclass(frozen=True, slots=True)
class WrittenBundle:
    sha256: str
    size: int


def write_bundle(
    data: BundleData,
    target: Path,
    *,
    templates: ExportTemplates,
    generated_by: str,
    generated_at: dt.datetime,
    locale: str = "de",
    progress: Callable[[str, int, int], None] | None = None,
) -> WrittenBundle:
    """Write the ZIP to ``target`` entry by entry (a temporary file beside it, renamed when complete; removed if
    anything fails, e.g. a protocol version whose bytes no longer match their SHA-256). Only one entry is held in
    memory at a time. ``progress(step, done, total)`` is called per written file."""
    label = data.period.label
    common: dict[str, Any] = {"period_label": label, "scope": _scope(data), "generated_at": generated_at}
    total = 1 + 2 * len(data.tables) + data.file_count
    done = 0
    listed: list[dict[str, Any]] = []
    stamp = (data.period.last.year, data.period.last.month, data.period.last.day, 0, 0, 0)
    directory = target.parent if str(target.parent) else Path()
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".tmp-bundle-", suffix=".zip")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:

                def add(name: str, body: bytes, step: str) -> None:
                    nonlocal done
                    info = zipfile.ZipInfo(name, date_time=stamp)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, body)
                    listed.append({"path": name, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)})
                    done += 1
                    if progress is not None:
                        progress(step, min(done, total), total)

                add(
                    "zusammenfassung.pdf",
                    _summary_pdf(data, templates, generated_by, locale, common),
                    N_("Zusammenfassung"),
                )
                footer = translate(
                    N_("Erstellt am %(when)s"), locale, when=f"{generated_at.astimezone(BERLIN):%d.%m.%Y, %H:%M}"
                )
                subtitle = translate(N_("Zeitraum %(label)s"), locale, label=label) + f" · {common['scope']}"
                for table in data.tables:
                    add(f"tabellen/{table.key}.csv", render_table_csv(table), table.key)
                    pdf = render_table_pdf(
                        title=translate(table.title, locale),
                        subtitle=subtitle + " · " + translate(N_("%(n)s Zeilen"), locale, n=len(table.rows)),
                        header=table.header,
                        rows=table.rows,
                        footer=footer,
                        created=generated_at,
                        locale=locale,
                    )
                    add(f"tabellen/{table.key}.pdf", pdf, table.key)
                for item in data.files():
                    add(item.path, item.data, N_("Protokolle und Tagesordnungen"))
                manifest = {
                    "format": BUNDLE_FORMAT,
                    "product": "tumorboard",
                    "product_version": product_version(),
                    "period": {
                        "from": data.period.first.isoformat(),
                        "to": data.period.last.isoformat(),
                        "label": label,
                    },
                    "boards": [{"short_name": b.short_name, "name": b.name} for b in data.boards],
                    "indicator_definitions": list(data.definitions),
                    "quorum_rules": {b.short_name: _quorum_text(b) for b in data.boards},
                    "generated_by": generated_by,
                    "generated_at": generated_at.astimezone(dt.UTC).isoformat(),
                    "files": listed,
                }
                body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
                info = zipfile.ZipInfo("manifest.json", date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, body)
            fh.flush()
            fh.seek(0)
            digest = hashlib.sha256()
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
            size = fh.tell()
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WrittenBundle(digest.hexdigest(), size)


def _summary_pdf(
    data: BundleData, templates: ExportTemplates, generated_by: str, locale: str, common: dict[str, Any]
) -> bytes:
    """The summary with the figures as SVG (vector graphics in the PDF) and the indicators (WeasyPrint: a few
    pages, the same SVG the dashboard shows)."""
    charts = [
        (
            translate(f.title, locale),
            "data:image/svg+xml;base64,"
            + base64.b64encode(render_svg(f, title=translate(f.title, locale)).encode()).decode("ascii"),
        )
        for f in data.dashboard.figures
        if f.chart is not ChartKind.TABLE  # the lists are tables of the bundle (T5b, T6c)
    ]
    summary = templates.render(
        "exports/pdf/qm_summary.html",
        indicators=next(t for t in data.tables if t.key == "T0_kennzahlen"),
        charts=charts,
        generated_by=generated_by,
        locale=locale,
        **common,
    )
    return render_pdf(summary)


def render_table_csv(table: Table) -> bytes:
    return render_csv(table.rows, header=table.header)


def _quorum_text(board: Board) -> list[str]:
    """The quorum rule in force (configuration on the board), as the manifest states it."""
    return [f"{g.kind.value}: {', '.join(d.name for d in g.disciplines)}" for g in board.quorum_groups]
