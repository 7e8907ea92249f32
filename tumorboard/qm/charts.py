"""The dashboard's figures as SVG, drawn on the server with matplotlib (no front-end build step; the page and the
PDF show the same picture). A pure renderer: a :class:`~tumorboard.qm.services.Figure` in, SVG text out.

``matplotlib.figure.Figure`` is used without pyplot, so no global figure state and no GUI backend is touched (safe
in web workers and threads). The SVG is deterministic: fixed hash salt, no date in the metadata, text as paths.
"""

from __future__ import annotations

import io
from typing import Any

from tumorboard.qm.services import ChartKind, Figure

_RC: Any = {
    "svg.hashsalt": "tumorboard-qm",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
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
        fig = MplFigure(figsize=(8, 3.2), layout="constrained")
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
            ax.plot(positions, values, marker="o", markersize=3, color=_COLORS[0], label=figure.header[-1])
            ax.axhline(100, color=_COLORS[2], linestyle="--", linewidth=1, label="Ziel 100 %")
            ax.set_ylim(0, 105)
            ax.set_ylabel("Prozent")
            ax.legend(loc="lower left", frameon=False)
        elif figure.chart is ChartKind.HEATMAP:
            matrix = [[_values(v) for v in row[1:]] for row in figure.rows]
            transposed = [list(col) for col in zip(*matrix, strict=True)] if matrix else []
            # pcolormesh, not imshow: imshow embeds a bitmap in the SVG; the figure must stay vector in the PDF.
            ax.pcolormesh(transposed, cmap="Greens", vmin=0, vmax=1, edgecolors="white", linewidth=0.2)
            ax.set_yticks([n + 0.5 for n in range(len(series))], labels=list(series))
            ax.invert_yaxis()
            positions = [p + 0.5 for p in positions]
        else:
            width = 0.8 / (1 if figure.chart is ChartKind.STACKED else max(len(series), 1))
            bottoms = [0.0] * len(labels)
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
        if figure.rows:
            step = max(1, len(labels) // 24)
            ax.set_xticks(positions[::step], labels=labels[::step], rotation=60, ha="right", fontsize=7)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "tumorboard"})
    return buffer.getvalue()
