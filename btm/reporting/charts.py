"""PNG charts for the emailed report: a maturity trend, a comparison with the enterprise and
the other units, and the heatmap's colour key.

Mail clients run no scripts and many show no SVG, so each chart is a PNG that the email
embeds by Content-ID, with alt text that states in words every number the picture shows.
Rendering uses matplotlib's Agg canvas on a `Figure` of its own, never pyplot, so nothing
global is touched and charts can be drawn from worker threads. The PNG is drawn at twice the
display size for sharp text on high-density screens, in DejaVu Sans loaded from the file
matplotlib ships (not whatever font the machine calls "DejaVu Sans"), and encoded by Pillow
with no metadata, so the same input gives the same bytes on every machine with the same
matplotlib and Pillow wheels: tests and the delivery ledger compare them.
"""

from __future__ import annotations

import io
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import matplotlib
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colors import is_color_like, to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from PIL import Image

# One colour a series, after Okabe–Ito's colour-blind-safe set: a darker blue first for the
# enterprise line, no yellow (too pale on white). More series reuse them in turn.
PALETTE = ("#0b4f8a", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#7f6a3a")
INK = "#222222"
MUTED = "#666666"
GRID = "#dddddd"
BACKGROUND = "#ffffff"
# An initiative's state on the roadmap (its latest pulse, else its status), from the same
# colour-blind-safe set; a state not yet approved is drawn as a pale bar in its colour.
STATE_COLOURS = {
    "on track": "#009e73",
    "at risk": "#e69f00",
    "off track": "#d55e00",
    "no evidence": "#8c8c8c",
    "approved": "#56b4e9",
    "overdue": "#a61b1b",
    "done": "#0b4f8a",
    "proposed": "#8c8c8c",
    "deferred": "#cc79a7",
}

LEVEL_MIN = 1.0
LEVEL_MAX = 5.0
DEFAULT_WIDTH = 560
MIN_WIDTH = 240
MAX_WIDTH = 1600
SCALE = 2  # PNG pixels per CSS pixel
# At 72 * SCALE dpi one typographic point is one CSS pixel, so every size below is in CSS px.
DPI = 72 * SCALE
NO_DATA = "no data yet"
UNKNOWN = "unknown"

TREND_PLOT_HEIGHT = 150
COMPARISON_ROW_HEIGHT = 28
ROADMAP_ROW_HEIGHT = 24
LEGEND_HEIGHT = 48
NO_DATA_HEIGHT = 96
TITLE_BAND = 28
TOP_PAD = 10
EDGE_PAD = 10

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_ONE_DECIMAL = Decimal("0.1")


@dataclass(frozen=True)
class Chart:
    """A rendered chart: `png` is `SCALE` times `width` x `height`, which are CSS pixels."""

    name: str
    png: bytes
    alt: str
    width: int
    height: int

    @property
    def file_name(self) -> str:
        return f"{self.name}.png"


@dataclass(frozen=True)
class ComparisonRow:
    """One bar of a comparison: the subject's level, the enterprise level and the range
    (lowest–highest) of the other units; None where unknown."""

    label: str
    value: float | None
    reference: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class RoadmapBar:
    """One initiative across the roadmap's quarters, `start` to `end` (both shown);
    `overdue_from` on is hatched, `runs_on` ends it with an arrow (it goes on past the
    last quarter shown), `tentative` draws it pale with a dashed edge (not yet approved)."""

    label: str
    start: str
    end: str
    state: str
    overdue_from: str | None = None
    runs_on: bool = False
    tentative: bool = False


def trend_chart(
    cycles: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    target: float | None = None,
    title: str = "",
    name: str = "trend",
    width: int = DEFAULT_WIDTH,
    colors: Sequence[str] = PALETTE,
) -> Chart:
    """One line per series over the cycles, levels 1–5; None is a gap in the line. The
    first series (the enterprise) is drawn thicker, `target` as a dashed labelled line."""
    _check_frame(name, width)
    _check_colors(colors)
    for label, values in series.items():
        if len(values) != len(cycles):
            raise ValueError(
                f"trend series {label!r} has {len(values)} values for {len(cycles)} cycles; "
                "give one value (or None) per cycle"
            )
    series = {
        label: [
            _level(value, f"trend series {label!r} at cycle {cycle!r}")
            for cycle, value in zip(cycles, values, strict=True)
        ]
        for label, values in series.items()
    }
    target = _level(target, "trend target")
    if not any(v is not None for values in series.values() for v in values):
        return _no_data_chart(name=name, title=title, width=width)

    alt = _trend_alt(cycles, series, target=target, title=title)
    labels = list(series)
    legend_font, tick_font = _font(10), _font(10)
    probe = _probe_renderer()
    label_w = max(_text_width(probe, label, legend_font) for label in labels)
    # handle, gap before the label and space after it, all in CSS px
    columns = max(1, min(len(labels), int((width - 2 * EDGE_PAD) // (label_w + 40))))
    legend_rows = math.ceil(len(labels) / columns)
    cycle_w = max(_text_width(probe, cycle, tick_font) for cycle in cycles) + 8
    top = TITLE_BAND if title else TOP_PAD
    # Room for the y tick labels, the target's label, and half of each outer cycle id.
    left = max(44, math.ceil(cycle_w / 2))
    right = max(16, math.ceil(cycle_w / 2))
    if target is not None:
        right = max(right, 20 + math.ceil(_text_width(probe, "target 5.0", _font(9))))
    ticks_band = 24
    legend_band = math.ceil(legend_rows * 13.5) + 8  # 10 px text + 3.5 px between rows
    height = top + TREND_PLOT_HEIGHT + ticks_band + legend_band

    figure, canvas = _figure(width, height)
    if title:
        _title(figure, title, width, height)
    bottom = height - top - TREND_PLOT_HEIGHT
    ax = figure.add_axes(_rect(width, height, left=left, right=right, top=top, bottom=bottom))
    _level_axis(ax, "y")
    ax.set_ylim(LEVEL_MIN - 0.2, LEVEL_MAX + 0.2)
    positions = list(range(len(cycles)))
    ax.set_xlim(-0.4, max(len(cycles) - 0.6, 0.4))

    # Show every k-th cycle id when they would collide; the alt text names them all.
    step = max(1, math.ceil(len(cycles) * cycle_w / (width - left - right)))
    shown = positions[::-1][::step][::-1]  # keep the latest cycle's label
    ax.set_xticks(shown, [_plain(cycles[i]) for i in shown], fontproperties=tick_font, color=INK)
    ax.tick_params(axis="x", length=3, color=MUTED)

    for index, (label, values) in enumerate(series.items()):
        emphasised = index == 0
        ax.plot(
            positions,
            [math.nan if v is None else v for v in values],
            color=colors[index % len(colors)],
            linewidth=3.0 if emphasised else 1.6,
            marker="o",
            markersize=5.5 if emphasised else 3.5,
            label=_plain(label),
            zorder=3 if emphasised else 2,
            solid_capstyle="round",
        )
    if target is not None:
        ax.axhline(target, color=MUTED, linewidth=1.2, linestyle=(0, (5, 3)), zorder=1)
        # In the right margin, where no line can run over it.
        ax.annotate(
            f"target {_level_text(target)}", (1.0, target), xycoords=ax.get_yaxis_transform(),
            xytext=(6, 0), textcoords="offset points",
            ha="left", va="center_baseline", color=MUTED, fontproperties=_font(9),
        )  # fmt: skip
    _legend(
        figure,
        anchor=(left / width, (legend_band - 2) / height),
        columns=columns,
        font=legend_font,
        handlelength=2.0,
    )
    return Chart(name, _png(canvas), alt, width, height)


def comparison_chart(
    rows: Sequence[ComparisonRow],
    *,
    title: str = "",
    name: str = "comparison",
    width: int = DEFAULT_WIDTH,
    color: str = PALETTE[0],
    value_label: str = "this unit",
    reference_label: str = "enterprise",
    range_label: str = "other units",
) -> Chart:
    """Horizontal bars of the subject's level per row, with the reference (enterprise)
    level as a diamond and the other units' lowest–highest as a thin line across the bar."""
    _check_frame(name, width)
    _check_colors([color])
    rows = [_checked_row(row) for row in rows]
    if not rows:
        return _no_data_chart(name=name, title=title, width=width)

    alt = _comparison_alt(
        rows,
        title=title,
        value_label=value_label,
        reference_label=reference_label,
        range_label=range_label,
    )
    label_font = _font(10.5)
    probe = _probe_renderer()
    max_label = int(width * 0.42)
    labels = [_fit(probe, row.label, label_font, max_label) for row in rows]
    left = min(max_label, max(_text_width(probe, label, label_font) for label in labels)) + 14
    top = TITLE_BAND if title else TOP_PAD
    right, ticks_band = 40, 20
    # The key: one row under the plot if it fits there, else one row from the edge, else
    # one entry a line. Each entry is a handle (2.1 em with its gap) and its label.
    key_font = _font(9.5)
    key_labels = [value_label, reference_label, f"{range_label} (lowest–highest)"]
    key_w = sum(2.1 * 9.5 + _text_width(probe, label, key_font) for label in key_labels) + 2 * 15.2
    if left + key_w <= width - EDGE_PAD:
        key_columns, key_left, key_band = 3, left, 26
    elif key_w <= width - 2 * EDGE_PAD:
        key_columns, key_left, key_band = 3, EDGE_PAD, 26
    else:
        key_columns, key_left, key_band = 1, EDGE_PAD, 54
    plot_height = COMPARISON_ROW_HEIGHT * len(rows)
    height = top + plot_height + ticks_band + key_band

    figure, canvas = _figure(width, height)
    if title:
        _title(figure, title, width, height)
    bottom = height - top - plot_height
    ax = figure.add_axes(_rect(width, height, left=left, right=right, top=top, bottom=bottom))
    _level_axis(ax, "x")
    ax.set_xlim(0, LEVEL_MAX + 0.15)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row at the top
    ax.set_yticks(
        range(len(rows)), [_plain(label) for label in labels], fontproperties=label_font, color=INK
    )

    bar_color = _tint(color, 0.45)
    known = [(y, row.value) for y, row in enumerate(rows) if row.value is not None]
    ranged = [
        (y, row.low, row.high)
        for y, row in enumerate(rows)
        if row.low is not None and row.high is not None
    ]
    referenced = [(y, row.reference) for y, row in enumerate(rows) if row.reference is not None]
    if known:
        ys, values = zip(*known, strict=True)
        ax.barh(ys, values, height=0.56, color=bar_color, edgecolor=color, linewidth=0.8, zorder=2)
    if ranged:
        ys, lows, highs = zip(*ranged, strict=True)
        ax.hlines(ys, lows, highs, color=INK, linewidth=1.3, zorder=3)
        ax.plot(
            lows + highs, ys + ys, linestyle="none", marker="|", markersize=8, color=INK, zorder=3
        )
    if referenced:
        ys, references = zip(*referenced, strict=True)
        ax.plot(
            references, ys, linestyle="none", marker="D", markersize=6.5,
            color=INK, markeredgecolor=BACKGROUND, markeredgewidth=1.0, zorder=4,
        )  # fmt: skip
    number_font, unknown_font = _font(10), _font(10, italic=True)
    for y, row in enumerate(rows):
        if row.value is None:
            ax.text(
                0.08,
                y,
                UNKNOWN,
                va="center_baseline",
                ha="left",
                color=MUTED,
                fontproperties=unknown_font,
            )
        else:
            ax.annotate(
                _level_text(row.value), (1.0, y), xycoords=ax.get_yaxis_transform(),
                xytext=(8, 0), textcoords="offset points",
                va="center_baseline", ha="left", color=INK, fontproperties=number_font,
            )  # fmt: skip

    key = [
        Patch(facecolor=bar_color, edgecolor=color, linewidth=0.8, label=_plain(value_label)),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="D",
            markersize=6.5,
            color=INK,
            label=_plain(key_labels[1]),
        ),
        Line2D(
            [],
            [],
            color=INK,
            linewidth=1.3,
            marker="|",
            markersize=8,
            label=_plain(key_labels[2]),
        ),
    ]
    figure.legend(
        handles=key,
        loc="lower left",
        bbox_to_anchor=(key_left / width, 4 / height),
        ncols=key_columns,
        frameon=False,
        prop=key_font,
        handlelength=1.6,
        handletextpad=0.5,
        columnspacing=1.6,
        borderaxespad=0,
        borderpad=0,
        labelcolor=INK,
    )
    return Chart(name, _png(canvas), alt, width, height)


def legend_chart(
    bands: Sequence[tuple[str, str, str]],
    *,
    name: str = "legend",
    width: int = DEFAULT_WIDTH,
) -> Chart:
    """A strip of coloured swatches, one per (label, hex colour, range text), left to right;
    the heatmap's key."""
    _check_frame(name, width)
    for label, colour, _ in bands:
        if not is_color_like(colour):
            raise ValueError(
                f"legend band {label!r}: {colour!r} is not a colour; "
                "give a hex colour like '#d73027'"
            )
    if not bands:
        return _no_data_chart(name=name, title="", width=width)

    alt = (
        "Colour key: " + "; ".join(f"{label} {range_text}" for label, _, range_text in bands) + "."
    )
    height = LEGEND_HEIGHT
    figure, canvas = _figure(width, height)
    probe = _probe_renderer()
    gap = 2
    cell = (width - 2 * EDGE_PAD - gap * (len(bands) - 1)) / len(bands)
    # One size for every label, the largest at which the widest fits its swatch.
    size = 11.0
    while (
        size > 7 and max(_text_width(probe, label, _font(size)) for label, _, _ in bands) > cell - 8
    ):
        size -= 0.5
    label_font, range_font = _font(size), _font(min(size, 10))
    swatch_top, swatch_height = 4, 24
    for index, (label, colour, range_text) in enumerate(bands):
        x = EDGE_PAD + index * (cell + gap)
        figure.add_artist(
            Rectangle(
                (x / width, 1 - (swatch_top + swatch_height) / height),
                cell / width,
                swatch_height / height,
                transform=figure.transFigure,
                facecolor=colour,
                edgecolor="none",
            )
        )
        centre = (x + cell / 2) / width
        shown = _fit(probe, label, label_font, cell - 6)
        figure.text(
            centre, 1 - (swatch_top + swatch_height / 2) / height, _plain(shown),
            ha="center", va="center_baseline", color=_text_on(colour), fontproperties=label_font,
        )  # fmt: skip
        figure.text(
            centre, 1 - (swatch_top + swatch_height + 10) / height, _plain(range_text),
            ha="center", va="center_baseline", color=INK, fontproperties=range_font,
        )  # fmt: skip
    return Chart(name, _png(canvas), alt, width, height)


def roadmap_chart(
    quarters: Sequence[str],
    bars: Sequence[RoadmapBar],
    *,
    current: str,
    title: str = "",
    name: str = "roadmap",
    width: int = DEFAULT_WIDTH,
    colors: Mapping[str, str] = STATE_COLOURS,
) -> Chart:
    """One bar per initiative across its quarters, first at the top, coloured by its
    state; the quarter `current` (the report's) shaded, and its label in bold."""
    _check_frame(name, width)
    _check_colors(list(colors.values()))
    _check_roadmap(quarters, bars, current=current, colors=colors)
    if not bars:
        return _no_data_chart(name=name, title=title, width=width)

    alt = _roadmap_alt(quarters, bars, current=current, title=title)
    at = {quarter: n for n, quarter in enumerate(quarters)}
    label_font, tick_font, key_font = _font(10.5), _font(9.5), _font(9.5)
    probe = _probe_renderer()
    max_label = int(width * 0.35)
    labels = [_fit(probe, bar.label, label_font, max_label) for bar in bars]
    left = min(max_label, max(_text_width(probe, label, label_font) for label in labels)) + 14
    right = 18  # room for the arrow of a bar that runs on
    plot_width = width - left - right

    shade = _tint(PALETTE[0], 0.12)
    past_due = any(bar.overdue_from is not None for bar in bars)
    runs_on = any(bar.runs_on for bar in bars)
    states = [s for s in colors if any(bar.state == s for bar in bars)]
    key_labels = [*states]
    key_labels += ["overdue, from its due cycle"] if past_due else []
    key_labels += [f"runs on past {quarters[-1]}"] if runs_on else []
    key_labels.append(f"{current}: this report")
    key_w = max(_text_width(probe, label, key_font) for label in key_labels)
    columns = max(1, min(len(key_labels), int((width - 2 * EDGE_PAD) // (key_w + 36))))
    key_rows = math.ceil(len(key_labels) / columns)

    top = (TITLE_BAND if title else TOP_PAD) + 28  # the quarters' two-line labels on top
    plot_height = ROADMAP_ROW_HEIGHT * len(bars)
    key_band = math.ceil(key_rows * 13.5) + 18
    height = top + plot_height + key_band

    figure, canvas = _figure(width, height)
    if title:
        _title(figure, title, width, height)
    bottom = height - top - plot_height
    ax = figure.add_axes(_rect(width, height, left=left, right=right, top=top, bottom=bottom))
    ax.set_facecolor(BACKGROUND)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(MUTED)
    ax.spines["left"].set_linewidth(0.8)
    ax.set_xlim(-0.5, len(quarters) - 0.5)
    ax.set_ylim(len(bars) - 0.5, -0.5)  # first bar at the top
    ax.set_yticks(
        range(len(bars)), [_plain(label) for label in labels], fontproperties=label_font, color=INK
    )
    ax.tick_params(axis="y", length=0, pad=6)

    # "Q3" over "2026"; every k-th quarter when they would collide, always the report's.
    year_w = _text_width(probe, "0000", tick_font) + 8
    step = max(1, math.ceil(len(quarters) * year_w / plot_width))
    shown = [n for n in range(len(quarters)) if (n - at[current]) % step == 0]
    ax.xaxis.set_ticks_position("top")
    ax.set_xticks(shown, [_plain(_quarter_label(quarters[n])) for n in shown])
    for n, tick in zip(shown, ax.get_xticklabels(), strict=True):
        tick.set_fontproperties(_font(9.5, bold=True) if n == at[current] else tick_font)
        tick.set_color(INK if n == at[current] else MUTED)
    ax.tick_params(axis="x", length=0, pad=4)
    for n in range(1, len(quarters)):
        ax.axvline(n - 0.5, color=GRID, linewidth=0.8, zorder=0)
    ax.axvspan(at[current] - 0.5, at[current] + 0.5, facecolor=shade, edgecolor="none", zorder=0)

    hatch: dict[str, Any] = {"hatch": "////", "hatchcolor": BACKGROUND, "hatch_linewidth": 1.2}
    arrow: dict[str, Any] = {"linestyle": "none", "marker": ">", "markersize": 6.5, "color": INK}
    for y, bar in enumerate(bars):
        first, last = at[bar.start] - 0.42, at[bar.end] + 0.42
        style = _bar_style(colors[bar.state], tentative=bar.tentative)
        ax.barh(y, last - first, left=first, height=0.56, zorder=2, **style)
        if bar.overdue_from is not None:
            hatched = max(first, at[bar.overdue_from] - 0.5)
            ax.barh(
                y, last - hatched, left=hatched, height=0.56, zorder=3, facecolor="none",
                edgecolor="none", **hatch,
            )  # fmt: skip
        if bar.runs_on:
            ax.plot([last + 0.02], [y], clip_on=False, zorder=4, **arrow)

    # the key draws each state as its bars are drawn
    tentative = {bar.state: bar.tentative for bar in bars}
    key: list[Artist] = [
        Patch(label=_plain(state), **_bar_style(colors[state], tentative=tentative[state]))
        for state in states
    ]
    if past_due:
        key.append(
            Patch(facecolor=MUTED, edgecolor="none", label=_plain(key_labels[len(states)]), **hatch)
        )
    if runs_on:
        key.append(Line2D([], [], label=_plain(key_labels[-2]), **arrow))
    key.append(Patch(facecolor=shade, edgecolor=GRID, linewidth=0.8, label=_plain(key_labels[-1])))
    _legend(
        figure,
        anchor=(EDGE_PAD / width, (key_band - 10) / height),
        columns=columns,
        font=key_font,
        handlelength=1.6,
        handles=key,
    )
    return Chart(name, _png(canvas), alt, width, height)


def _bar_style(colour: str, *, tentative: bool) -> dict[str, Any]:
    """A committed bar is filled with its state's colour; a tentative one is pale with a
    dashed edge in it."""
    if tentative:
        return {
            "facecolor": _tint(colour, 0.3),
            "edgecolor": colour,
            "linewidth": 1.2,
            "linestyle": (0, (3, 2)),
        }
    return {"facecolor": colour, "edgecolor": colour, "linewidth": 0.8}


def _quarter_label(quarter: str) -> str:
    """A cycle id, "2026-Q3", as "Q3" over "2026"; any other id as it is."""
    year, _, rest = quarter.partition("-")
    return f"{rest}\n{year}" if rest else quarter


# -- alt text ---------------------------------------------------------------------------


def _trend_alt(
    cycles: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    target: float | None,
    title: str,
) -> str:
    sentences = [f"{title}." if title else ""]
    for index, (label, values) in enumerate(series.items()):
        points = ", ".join(
            f"{cycle} {_level_text(v)}" for cycle, v in zip(cycles, values, strict=True)
        )
        sentence = (
            f"{label} maturity level by cycle: {points}" if index == 0 else f"{label}: {points}"
        )
        if index == 0 and target is not None:
            sentence += f"; target {_level_text(target)}"
        sentences.append(sentence + ".")
    return " ".join(s for s in sentences if s)


def _comparison_alt(
    rows: Sequence[ComparisonRow],
    *,
    title: str,
    value_label: str,
    reference_label: str,
    range_label: str,
) -> str:
    parts = [f"{title}." if title else ""]
    for row in rows:
        spread = (
            f"{_level_text(row.low)}–{_level_text(row.high)}"
            if row.low is not None and row.high is not None
            else UNKNOWN
        )
        parts.append(
            f"{row.label}: {value_label} {_level_text(row.value)}, "
            f"{reference_label} {_level_text(row.reference)}, {range_label} {spread}."
        )
    return " ".join(p for p in parts if p)


def _roadmap_alt(
    quarters: Sequence[str], bars: Sequence[RoadmapBar], *, current: str, title: str
) -> str:
    n = len(bars)
    parts = [
        f"{title}." if title else "",
        f"{n} initiative{'' if n == 1 else 's'} from {quarters[0]} to {quarters[-1]}; "
        f"this report's quarter is {current}.",
    ]
    for bar in bars:
        span = bar.start if bar.start == bar.end else f"{bar.start} to {bar.end}"
        if bar.runs_on:
            span += " and on"
        overdue = f", overdue from {bar.overdue_from}" if bar.overdue_from else ""
        parts.append(f"{bar.label}: {span}, {bar.state}{overdue}.")
    return " ".join(p for p in parts if p)


def _level_text(level: float | None) -> str:
    """One decimal, rounded half up like the report's roll-ups (2.25 -> 2.3)."""
    if level is None:
        return UNKNOWN
    return str(Decimal(str(level)).quantize(_ONE_DECIMAL, ROUND_HALF_UP))


# -- checks -----------------------------------------------------------------------------


def _check_frame(name: str, width: int) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"chart name {name!r} must be letters, digits, '.', '_' or '-' (it is a Content-ID)"
        )
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"chart {name!r}: width {width} px is outside {MIN_WIDTH}–{MAX_WIDTH}")


def _level(level: object, where: str) -> float | None:
    """The level as a float, or None for unknown; any real number (a Decimal roll-up too)
    from 1 to 5 is taken."""
    if level is None:
        return None
    if isinstance(level, numbers.Real | Decimal) and not isinstance(level, bool):
        number = float(level)
        if LEVEL_MIN <= number <= LEVEL_MAX:
            return number
    raise ValueError(
        f"{where}: {level!r} is not a level from {LEVEL_MIN:g} to {LEVEL_MAX:g}; "
        "use None for unknown"
    )


def _checked_row(row: ComparisonRow) -> ComparisonRow:
    where = f"comparison row {row.label!r}"
    low, high = _level(row.low, f"{where} low"), _level(row.high, f"{where} high")
    if (low is None) != (high is None):
        raise ValueError(f"{where}: give both low and high of the range, or neither")
    if low is not None and high is not None and low > high:
        raise ValueError(f"{where}: low {row.low} is above high {row.high}")
    return ComparisonRow(
        row.label,
        _level(row.value, f"{where} value"),
        _level(row.reference, f"{where} reference"),
        low,
        high,
    )


def _check_colors(colors: Sequence[str]) -> None:
    if not colors:
        raise ValueError("give at least one colour")
    for colour in colors:
        if not is_color_like(colour):
            raise ValueError(f"{colour!r} is not a colour; give a hex colour like '#0b4f8a'")


def _check_roadmap(
    quarters: Sequence[str],
    bars: Sequence[RoadmapBar],
    *,
    current: str,
    colors: Mapping[str, str],
) -> None:
    at = {quarter: n for n, quarter in enumerate(quarters)}
    if not quarters or len(at) != len(quarters):
        raise ValueError("give the roadmap's quarters, each once, oldest first")
    if current not in at:
        raise ValueError(f"the report's quarter {current!r} is not one of the roadmap's quarters")
    for bar in bars:
        where = f"roadmap bar {bar.label!r}"
        if bar.state not in colors:
            raise ValueError(
                f"{where}: no colour for state {bar.state!r}; the states are: {', '.join(colors)}"
            )
        ends = [bar.start, bar.end] + ([bar.overdue_from] if bar.overdue_from else [])
        outside = [q for q in ends if q not in at]
        if outside:
            raise ValueError(
                f"{where}: {', '.join(outside)} is not one of the roadmap's quarters "
                f"({quarters[0]} to {quarters[-1]})"
            )
        if not at[bar.start] <= at[bar.end]:
            raise ValueError(f"{where}: it ends in {bar.end}, before it starts in {bar.start}")
        if bar.overdue_from and not at[bar.start] <= at[bar.overdue_from] <= at[bar.end]:
            raise ValueError(f"{where}: overdue from {bar.overdue_from}, outside its span")


# -- drawing ----------------------------------------------------------------------------


def _legend(
    figure: Figure,
    *,
    anchor: tuple[float, float],
    columns: int,
    font: FontProperties,
    handlelength: float,
    handles: Sequence[Any] | None = None,
) -> None:
    """The charts' one legend style: above the plot, left-aligned, no frame."""
    figure.legend(
        **({"handles": handles} if handles is not None else {}),
        loc="upper left",
        bbox_to_anchor=anchor,
        ncols=columns,
        frameon=False,
        prop=font,
        handlelength=handlelength,
        handletextpad=0.5,
        columnspacing=1.4,
        labelspacing=0.35,
        borderaxespad=0,
        borderpad=0,
        labelcolor=INK,
    )


def _figure(width: int, height: int) -> tuple[Figure, FigureCanvasAgg]:
    figure = Figure(figsize=(width / 72, height / 72), dpi=DPI, facecolor=BACKGROUND)
    return figure, FigureCanvasAgg(figure)


def _rect(
    width: int, height: int, *, left: float, right: float, top: float, bottom: float
) -> tuple[float, float, float, float]:
    """Axes position in figure fractions from margins in CSS px."""
    return (
        left / width,
        bottom / height,
        (width - left - right) / width,
        (height - top - bottom) / height,
    )


def _title(figure: Figure, title: str, width: int, height: int) -> None:
    figure.text(
        EDGE_PAD / width, 1 - 8 / height, _plain(title),
        ha="left", va="top", color=INK, fontproperties=_font(12.5, bold=True),
    )  # fmt: skip


def _level_axis(ax: Axes, axis: Literal["x", "y"]) -> None:
    """Levels 1–5 as ticks with light gridlines; no frame but the category axis."""
    ax.set_facecolor(BACKGROUND)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    category = "bottom" if axis == "y" else "left"
    ax.spines[category].set_visible(True)
    ax.spines[category].set_color(MUTED)
    ax.spines[category].set_linewidth(0.8)
    levels = list(range(int(LEVEL_MIN), int(LEVEL_MAX) + 1))
    if axis == "y":
        ax.set_yticks(levels, [str(v) for v in levels], fontproperties=_font(10), color=MUTED)
        ax.set_ylabel("level", fontproperties=_font(9.5), color=MUTED, labelpad=6)
    else:
        ax.set_xticks(levels, [str(v) for v in levels], fontproperties=_font(10), color=MUTED)
    ax.tick_params(axis=axis, length=0, pad=5)
    ax.tick_params(axis="y" if axis == "x" else "x", length=0, pad=6)
    ax.grid(axis=axis, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _no_data_chart(*, name: str, title: str, width: int) -> Chart:
    height = NO_DATA_HEIGHT
    figure, canvas = _figure(width, height)
    if title:
        _title(figure, title, width, height)
    figure.text(
        0.5, (height - (TITLE_BAND if title else 0)) / 2 / height, NO_DATA,
        ha="center", va="center", color=MUTED, fontproperties=_font(12, italic=True),
    )  # fmt: skip
    alt = f"{title}: {NO_DATA}." if title else f"{NO_DATA.capitalize()}."
    return Chart(name, _png(canvas), alt, width, height)


def _png(canvas: FigureCanvasAgg) -> bytes:
    """An opaque indexed PNG: no text chunks, no timestamp, maximum deflate."""
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    # A palette of 256 colours: exact when the chart has no more (bars, key, text), and
    # off only in a few anti-aliased edge pixels when it has; a third of the RGB size.
    # Median cut keeps the white background exactly white, and dithering would add noise.
    indexed = image.convert("RGB").quantize(
        256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    out = io.BytesIO()
    indexed.save(out, format="PNG", optimize=True)
    return out.getvalue()


# -- text -------------------------------------------------------------------------------


def _font(size: float, *, bold: bool = False, italic: bool = False) -> FontProperties:
    """DejaVu Sans from matplotlib's own files, so the glyphs are the same everywhere."""
    style = "-Bold" if bold else "-Oblique" if italic else ""
    return FontProperties(fname=_FONT_DIR / f"DejaVuSans{style}.ttf", size=size)


def _probe_renderer() -> RendererAgg:
    """A tiny renderer at the charts' dpi, only to measure text."""
    return RendererAgg(1, 1, DPI)


def _text_width(renderer: RendererAgg, text: str, font: FontProperties) -> float:
    """Width in CSS px."""
    width, _, _ = renderer.get_text_width_height_descent(text, font, ismath=False)
    return float(width) / SCALE


def _fit(renderer: RendererAgg, text: str, font: FontProperties, max_width: float) -> str:
    """The text, shortened with an ellipsis until it fits `max_width` CSS px."""
    if _text_width(renderer, text, font) <= max_width:
        return text
    # text[:keep] + "…" fits (or keep is 0); text[:over] + "…" does not.
    keep, over = 0, len(text)
    while over - keep > 1:
        middle = (keep + over) // 2
        if _text_width(renderer, text[:middle] + "…", font) <= max_width:
            keep = middle
        else:
            over = middle
    text = text[:keep]
    return text.rstrip() + "…"


def _plain(text: str) -> str:
    """Shown as typed: a '$' would otherwise start matplotlib's math mode."""
    return text.replace("$", r"\$")


def _tint(colour: str, strength: float) -> str:
    """The colour mixed with white: `strength` 1 is the colour itself."""
    r, g, b = to_rgb(colour)
    return to_hex(
        (1 - strength + strength * r, 1 - strength + strength * g, 1 - strength + strength * b)
    )


def _text_on(colour: str) -> str:
    """Dark or white text, whichever reads better on the swatch (WCAG relative luminance)."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in to_rgb(colour))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return INK if luminance > 0.22 else BACKGROUND
