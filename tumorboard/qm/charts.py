"""The dashboard's figures as SVG, drawn on the server with matplotlib (no front-end build step; the page and the
PDF show the same picture). A pure renderer: a :class:`~tumorboard.qm.services.Figure` in, SVG text out.

``matplotlib.figure.Figure`` is used without pyplot, so no global figure state and no GUI backend is touched (safe
in web workers and threads). The SVG is deterministic: fixed hash salt, no date in the metadata, text as paths.
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

from tumorboard.qm.services import ChartKind, Figure

_RC: Any = {
    "svg.hashsalt": "tumorboard-qm",
    # Text as <text> elements, not glyph outlines: a tenth of the SVG nodes (WeasyPrint draws each node of the
    # summary PDF) and half of matplotlib's time; the page and the PDF use the same installed DejaVu Sans.
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
#: Above this many categories a figure draws one path per series instead of one element per category.
MANY = 60
_COLORS = ("#1f5f99", "#3c9d5d", "#c0392b", "#d68910", "#7d3c98", "#566573")


def _values(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def render_svg(figure: Figure, *, title: str) -> str:
    """``figure`` as an SVG document (German labels come from its table's header)."""
    # matplotlib loads when the first chart is drawn, not with the module: importing it costs about a second of CPU
    # in every web worker, CLI command and listener that starts, and only the QM pages draw.
    import matplotlib as mpl
    from matplotlib.figure import Figure as MplFigure

    with mpl.rc_context(_RC):
        # Fixed margins instead of layout="constrained" (which measures every text several times per figure).
        fig = MplFigure(figsize=(8, 3.2))
        fig.subplots_adjust(left=0.16 if figure.chart is ChartKind.HEATMAP else 0.08, right=0.99, top=0.9, bottom=0.3)
        ax = fig.add_subplot()
        ax.set_title(title, loc="left", fontsize=10)
        labels = [str(row[0]) for row in figure.rows]
        series = figure.header[1:]
        positions: list[float] = [float(n) for n in range(len(labels))]
        if not figure.rows:
            ax.text(0.5, 0.5, "Keine Daten im Zeitraum", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        elif figure.chart is ChartKind.RUN:
            values = [_values(row[-1]) for row in figure.rows]
            marker = "o" if len(values) <= MANY else None  # hundreds of markers are hundreds of SVG elements
            ax.plot(positions, values, marker=marker, markersize=3, color=_COLORS[0], label=figure.header[-1])
            ax.axhline(100, color=_COLORS[2], linestyle="--", linewidth=1, label="Ziel 100 %")
            ax.set_ylim(0, 105)
            ax.set_ylabel("Prozent")
            ax.legend(loc="lower left", frameon=False)
        elif figure.chart is ChartKind.HEATMAP:
            # One filled step path per row (stairs from the row's baseline up where present), not a cell per
            # session and discipline: a year of all boards is ~400 × 6 cells, which as separate SVG paths took
            # seconds to draw and to print. Vector throughout (no imshow: that embeds a bitmap).
            edges = list(range(len(figure.rows) + 1))
            ax.set_facecolor("#eef3ee")
            for n, _name in enumerate(series):
                present = [n + (0.9 if _values(row[n + 1]) else 0.0) for row in figure.rows]
                ax.stairs(present, edges, baseline=n, fill=True, color="#2e7d32", linewidth=0)
            ax.set_ylim(len(series) - 0.05, -0.05)
            ax.set_xlim(0, len(figure.rows))
            ax.set_yticks([n + 0.45 for n in range(len(series))], labels=list(series))
            positions = [p + 0.5 for p in positions]
        else:
            width = 0.8 / (1 if figure.chart is ChartKind.STACKED else max(len(series), 1))
            bottoms = [0.0] * len(labels)
            if len(series) == 1 and len(labels) > MANY:
                # One bar per session over a year: one filled step path instead of hundreds of rectangles.
                values = [_values(row[1]) for row in figure.rows]
                ax.stairs(values, [p - 0.5 for p in positions] + [positions[-1] + 0.5], fill=True, color=_COLORS[0])
                series = ()
            for n, name in enumerate(series):
                values = [_values(row[n + 1]) for row in figure.rows]
                if figure.chart is ChartKind.STACKED:
                    ax.bar(positions, values, 0.8, bottom=bottoms, label=name, color=_COLORS[n % len(_COLORS)])
                    bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
                else:
                    offset = (n - (len(series) - 1) / 2) * width
                    ax.bar([p + offset for p in positions], values, width, label=name, color=_COLORS[n % len(_COLORS)])
            if len(series) > 1:
                ax.legend(loc="upper left", frameon=False, ncols=min(len(series), 4), fontsize=8)
        if figure.rows and len(labels) <= 6:
            # A few long category names (follow-up reasons): upright and wrapped, so the fixed margin holds them.
            wrapped = [textwrap.fill(label, 22) for label in labels]
            ax.set_xticks(positions, labels=wrapped, fontsize=7)
        elif figure.rows:
            step = max(1, len(labels) // 24)
            ax.set_xticks(positions[::step], labels=labels[::step], rotation=60, ha="right", fontsize=7)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "tumorboard"})
    return buffer.getvalue()
