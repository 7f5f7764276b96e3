"""The trend report's context: every roll-up, heatmap cell, mover and note the templates
show, computed from a cycle's scores and already formatted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import pandas as pd

from btm.catalog import Catalog
from btm.errors import ConfigurationError
from btm.evidence.notes import DataQualityNote, QualityPoint, QuarantineNote, SourceNote, StaleNote
from btm.improvement.section import Improvement
from btm.scoring.rollup import half_up

MOVERS_SHOWN = 5


SHA256_PREFIX = 12


SCORE_COLUMNS = ("unit", "capability", "dimension", "level")


ROLLUP_RULE = (
    "A roll-up is the mean of the known levels under it, rounded half up to one decimal; "
    "unknown levels are left out, never counted as 0 or 1, and a roll-up with no known "
    "level is unknown. Enterprise: every known unit x capability x dimension level; area: "
    "the known levels of its capabilities; unit: the unit's known levels; heatmap cell: "
    "the units' levels for that capability x dimension; mover: the unit's known dimensions "
    "of one capability. The spread is the lowest–highest of the values one step down "
    "(unit roll-ups, or a unit's levels), shown where they differ."
)


CHANGE_RULE = (
    'Changes compare the rounded roll-ups with the previous cycle\'s; "new" means no '
    'known level last cycle, "—" no known level this cycle (or no previous cycle).'
)


UNKNOWN_MEANING = (
    "Unknown: no evidence yet covers this capability x dimension; a level is never invented."
)


WHOLE = Decimal("1")


ChangeDirection = Literal["up", "down", "same", "new", "none"]


@dataclass(frozen=True)
class Change:
    """A roll-up's change against the previous cycle, as the report prints it."""

    direction: ChangeDirection
    delta: float | None  # None whenever either side is unknown
    text: str  # "▲0.3", "▼0.2", "=0.0", "new" or "—"


@dataclass(frozen=True)
class Rollup:
    """One headline level: the enterprise, an area or a business unit."""

    label: str
    code: str  # area id; "" for the enterprise and units
    level: float | None
    level_text: str  # "2.4" or "unknown"
    band: str  # "1".."5" or "unknown": the colour band, see LegendEntry
    spread_text: str  # "1.8–3.1", or "" when fewer than two distinct values
    coverage_text: str  # known levels of those possible, e.g. "41 of 68"
    change: Change


@dataclass(frozen=True)
class DimensionHeading:
    id: str
    name: str


@dataclass(frozen=True)
class HeatmapCell:
    dimension_id: str
    level: float | None
    level_text: str  # "2.5" or "–"
    band: str
    units_known: int
    units_total: int
    units_text: str  # "3/4": units with a known level / units scored
    detail_text: str  # "1–4 · 3/4", "3/4" or "unknown"


@dataclass(frozen=True)
class HeatmapRow:
    capability_id: str
    capability_name: str
    cells: tuple[HeatmapCell, ...]  # in the catalogue's dimension order
    overall: HeatmapCell | None = None  # the capability from its dimensions, every unit


@dataclass(frozen=True)
class HeatmapArea:
    area_id: str
    area_name: str
    rows: tuple[HeatmapRow, ...]


@dataclass(frozen=True)
class Mover:
    """A unit x capability roll-up that moved between the two cycles."""

    unit: str
    capability_id: str
    capability_name: str
    before_text: str
    after_text: str
    change: Change


@dataclass(frozen=True)
class QuarantineEntry:
    source: str
    file_name: str
    sha256_prefix: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class LegendEntry:
    band: str
    label: str  # "3 Functional" or "unknown"
    range_text: str  # "2.5–3.4"


@dataclass(frozen=True)
class ReportContext:
    """Everything the templates show, already computed and formatted."""

    subject: str
    cycle_id: str
    previous_cycle_id: str | None
    previous_cycle_text: str  # the id, or "none (first cycle)"
    generated_at_text: str
    rubric_version: str
    enterprise: Rollup
    areas: tuple[Rollup, ...]  # catalogue order
    units: tuple[Rollup, ...]  # sorted by name
    dimensions: tuple[DimensionHeading, ...]
    heatmap: tuple[HeatmapArea, ...]
    rises: tuple[Mover, ...]
    falls: tuple[Mover, ...]
    quarantined: tuple[QuarantineEntry, ...]
    stale: tuple[StaleNote, ...]
    sources: tuple[SourceNote, ...]
    quality: tuple[QualityPoint, ...]
    warnings: tuple[DataQualityNote, ...]
    legend: tuple[LegendEntry, ...]
    rollup_rule: str
    change_rule: str
    unknown_meaning: str
    cycle_months: str = ""  # the fiscal quarter's months, e.g. "Jul–Sep 2026"
    improvement: Improvement | None = None


@dataclass(frozen=True)
class _Stat:
    """Known levels under one roll-up: their sum, count and range."""

    total: int
    count: int
    low: int
    high: int

    @property
    def mean(self) -> Decimal:
        return half_up(Decimal(self.total) / Decimal(self.count))


@dataclass(frozen=True)
class _Rollups:
    """All roll-ups of one cycle's scores, keyed by what they roll up."""

    units: tuple[str, ...]
    enterprise: _Stat | None
    by_area: Mapping[Any, _Stat]
    by_unit: Mapping[Any, _Stat]
    by_unit_area: Mapping[Any, _Stat]
    by_cell: Mapping[Any, _Stat]
    by_unit_capability: Mapping[Any, _Stat]
    by_capability: Mapping[Any, _Stat]


def build_report_context(
    *,
    catalog: Catalog,
    cycle_id: str,
    previous_cycle_id: str | None,
    scores: pd.DataFrame,
    previous_scores: pd.DataFrame | None,
    quarantined: Sequence[QuarantineNote],
    stale: Sequence[StaleNote],
    rubric_version: str,
    generated_at: datetime,
    sources: Sequence[SourceNote] = (),
    quality: Sequence[QualityPoint] = (),
    warnings: Sequence[DataQualityNote] = (),
    cycle_months: str = "",
    improvement: Improvement | None = None,
) -> ReportContext:
    """Reduce this cycle's and the previous cycle's scores to the report's plain values.

    Give `previous_cycle_id` and `previous_scores` together, or neither (a first cycle).
    """
    if (previous_cycle_id is None) != (previous_scores is None):
        raise ValueError("give previous_cycle_id and previous_scores together, or neither")
    current = _rollups(_checked_scores(scores, catalog, "scores"))
    previous = (
        None
        if previous_scores is None
        else _rollups(_checked_scores(previous_scores, catalog, "previous_scores"))
    )
    n_units = len(current.units)
    n_dimensions = len(catalog.dimensions)

    enterprise = _rollup(
        label="Enterprise",
        code="",
        stat=current.enterprise,
        previous=None if previous is None else previous.enterprise,
        has_previous=previous is not None,
        spread=[current.by_unit[u].mean for u in current.units if u in current.by_unit],
        possible=n_units * len(catalog.capabilities) * n_dimensions,
    )
    areas = tuple(
        _rollup(
            label=area.name,
            code=area.id,
            stat=current.by_area.get(area.id),
            previous=None if previous is None else previous.by_area.get(area.id),
            has_previous=previous is not None,
            spread=[
                current.by_unit_area[(u, area.id)].mean
                for u in current.units
                if (u, area.id) in current.by_unit_area
            ],
            possible=n_units * n_dimensions * sum(c.area == area.id for c in catalog.capabilities),
        )
        for area in catalog.areas
    )
    units = tuple(
        _rollup(
            label=unit,
            code="",
            stat=current.by_unit.get(unit),
            previous=None if previous is None else previous.by_unit.get(unit),
            has_previous=previous is not None,
            spread=_level_range(current.by_unit.get(unit)),
            possible=len(catalog.capabilities) * n_dimensions,
        )
        for unit in current.units
    )
    rises, falls = _movers(current, previous, catalog)
    change = enterprise.change
    subject = f"BTM maturity trend report {cycle_id}: enterprise {enterprise.level_text}"
    if change.direction != "none":
        subject += f" ({change.text})"
    return ReportContext(
        subject=subject,
        cycle_id=cycle_id,
        previous_cycle_id=previous_cycle_id,
        previous_cycle_text=previous_cycle_id or "none (first cycle)",
        generated_at_text=_format_time(generated_at),
        rubric_version=rubric_version,
        enterprise=enterprise,
        areas=areas,
        units=units,
        dimensions=tuple(DimensionHeading(id=d.id, name=d.name) for d in catalog.dimensions),
        heatmap=_heatmap(current, catalog),
        rises=rises,
        falls=falls,
        quarantined=tuple(
            QuarantineEntry(
                source=note.source,
                file_name=note.file_name,
                sha256_prefix=note.sha256[:SHA256_PREFIX],
                problems=tuple(note.problems),
            )
            for note in quarantined
        ),
        stale=tuple(stale),
        sources=tuple(sources),
        quality=tuple(quality),
        warnings=tuple(warnings),
        legend=_legend(catalog),
        rollup_rule=ROLLUP_RULE,
        change_rule=CHANGE_RULE,
        unknown_meaning=UNKNOWN_MEANING,
        cycle_months=cycle_months,
        improvement=improvement,
    )


def _checked_scores(scores: pd.DataFrame, catalog: Catalog, name: str) -> pd.DataFrame:
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}; expected {SCORE_COLUMNS}")
    frame = scores.loc[:, list(SCORE_COLUMNS)].copy()
    frame["unit"] = frame["unit"].astype(str)
    frame["level"] = frame["level"].astype("Int64")
    for column, known in (
        ("capability", catalog.capability_ids),
        ("dimension", catalog.dimension_ids),
    ):
        strangers = sorted(set(frame[column].astype(str)) - set(known))
        if strangers:
            raise ConfigurationError(
                f"{name}: column {column} has {', '.join(strangers)}, not in the catalogue "
                f"(known: {', '.join(known)}); rescore the cycle or restore the catalogue ids"
            )
    levels = frame["level"].dropna()
    low, high = catalog.lowest_level, catalog.highest_level
    if not levels.between(low, high).all():
        raise ValueError(
            f"{name}: column level must hold {low}-{high} or <NA>, found {sorted(set(levels))}"
        )
    if frame.duplicated(subset=["unit", "capability", "dimension"]).any():
        raise ValueError(f"{name}: more than one row for a unit x capability x dimension")
    area_of = {c.id: c.area for c in catalog.capabilities}
    frame["area"] = frame["capability"].map(area_of)
    return frame


def _rollups(frame: pd.DataFrame) -> _Rollups:
    known = frame.dropna(subset=["level"])
    enterprise = (
        None
        if known.empty
        else _Stat(
            total=int(known["level"].sum()),
            count=len(known),
            low=int(known["level"].min()),
            high=int(known["level"].max()),
        )
    )
    return _Rollups(
        units=tuple(sorted(frame["unit"].unique())),
        enterprise=enterprise,
        by_area=_stats(known, ["area"]),
        by_unit=_stats(known, ["unit"]),
        by_unit_area=_stats(known, ["unit", "area"]),
        by_cell=_stats(known, ["capability", "dimension"]),
        by_unit_capability=_stats(known, ["unit", "capability"]),
        by_capability=_stats(known, ["capability"]),
    )


def _stats(known: pd.DataFrame, keys: list[str]) -> dict[Any, _Stat]:
    """Sum, count and range of the known levels per group, in one vectorised pass.

    Keys are the group's value, or a tuple of values when grouped by several columns.
    """
    if known.empty:
        return {}
    grouped = known.groupby(keys, sort=False)["level"].agg(["sum", "count", "min", "max"])
    return {
        key: _Stat(
            total=int(values["sum"]),
            count=int(values["count"]),
            low=int(values["min"]),
            high=int(values["max"]),
        )
        for key, values in grouped.to_dict("index").items()
    }


def _rollup(
    *,
    label: str,
    code: str,
    stat: _Stat | None,
    previous: _Stat | None,
    has_previous: bool,
    spread: Sequence[Decimal],
    possible: int,
) -> Rollup:
    mean = None if stat is None else stat.mean
    return Rollup(
        label=label,
        code=code,
        level=None if mean is None else float(mean),
        level_text=_level_text(mean),
        band=_band(mean),
        spread_text=_spread_text(spread),
        coverage_text=f"{0 if stat is None else stat.count} of {possible}",
        change=_change(mean, None if previous is None else previous.mean, has_previous),
    )


def _level_range(stat: _Stat | None) -> list[Decimal]:
    return [] if stat is None else [Decimal(stat.low), Decimal(stat.high)]


def _heatmap(current: _Rollups, catalog: Catalog) -> tuple[HeatmapArea, ...]:
    n_units = len(current.units)
    groups = []
    for area in catalog.areas:
        rows = []
        for capability in (c for c in catalog.capabilities if c.area == area.id):
            cells = [
                _heat_cell(
                    dimension.id, current.by_cell.get((capability.id, dimension.id)), n_units
                )
                for dimension in catalog.dimensions
            ]
            overall = _heat_cell(
                "capability",
                current.by_capability.get(capability.id),
                n_units * len(catalog.dimensions),
            )
            rows.append(
                HeatmapRow(
                    capability_id=capability.id,
                    capability_name=capability.name,
                    cells=tuple(cells),
                    overall=overall,
                )
            )
        groups.append(HeatmapArea(area_id=area.id, area_name=area.name, rows=tuple(rows)))
    return tuple(groups)


def _heat_cell(dimension_id: str, stat: _Stat | None, possible: int) -> HeatmapCell:
    mean = None if stat is None else stat.mean
    return HeatmapCell(
        dimension_id=dimension_id,
        level=None if mean is None else float(mean),
        level_text="–" if mean is None else f"{mean:.1f}",
        band=_band(mean),
        units_known=0 if stat is None else stat.count,
        units_total=possible,
        units_text=f"{0 if stat is None else stat.count}/{possible}",
        detail_text=_cell_detail(stat, possible),
    )


def _cell_detail(stat: _Stat | None, n_units: int) -> str:
    if stat is None:
        return "unknown"
    units = f"{stat.count}/{n_units}"
    if stat.low == stat.high:
        return units
    return f"{stat.low}–{stat.high} · {units}"


def _movers(
    current: _Rollups, previous: _Rollups | None, catalog: Catalog
) -> tuple[tuple[Mover, ...], tuple[Mover, ...]]:
    """The unit x capability roll-ups known in both cycles that rose or fell the most."""
    if previous is None:
        return (), ()
    order = {capability_id: index for index, capability_id in enumerate(catalog.capability_ids)}
    moved: list[tuple[Decimal, str, str, Decimal, Decimal]] = []
    for key, stat in current.by_unit_capability.items():
        before = previous.by_unit_capability.get(key)
        if before is None:
            continue  # unknown last cycle: a "new" level, not a movement
        unit, capability_id = key
        delta = stat.mean - before.mean
        if delta != 0:
            moved.append((delta, str(unit), str(capability_id), before.mean, stat.mean))

    def mover(item: tuple[Decimal, str, str, Decimal, Decimal]) -> Mover:
        _, unit, capability_id, before, after = item
        return Mover(
            unit=unit,
            capability_id=capability_id,
            capability_name=catalog.capability(capability_id).name,
            before_text=f"{before:.1f}",
            after_text=f"{after:.1f}",
            change=_change(after, before, True),
        )

    # Ties are broken by unit then catalogue order, so the same scores give the same list.
    rises = sorted((m for m in moved if m[0] > 0), key=lambda m: (-m[0], m[1], order[m[2]]))
    falls = sorted((m for m in moved if m[0] < 0), key=lambda m: (m[0], m[1], order[m[2]]))
    return (
        tuple(mover(m) for m in rises[:MOVERS_SHOWN]),
        tuple(mover(m) for m in falls[:MOVERS_SHOWN]),
    )


def _change(current: Decimal | None, previous: Decimal | None, has_previous: bool) -> Change:
    if current is None or not has_previous:
        return Change(direction="none", delta=None, text="—")
    if previous is None:
        return Change(direction="new", delta=None, text="new")
    delta = current - previous
    if delta > 0:
        return Change(direction="up", delta=float(delta), text=f"▲{delta:.1f}")
    if delta < 0:
        return Change(direction="down", delta=float(delta), text=f"▼{-delta:.1f}")
    return Change(direction="same", delta=0.0, text="=0.0")


def _level_text(mean: Decimal | None) -> str:
    return "unknown" if mean is None else f"{mean:.1f}"


def _band(mean: Decimal | None) -> str:
    """The colour band: the nearest whole level, so 2.5 up to 3.4 shows as level 3."""
    if mean is None:
        return "unknown"
    return str(int(mean.quantize(WHOLE, ROUND_HALF_UP)))  # scores are checked to lie in range


def _spread_text(values: Iterable[Decimal]) -> str:
    distinct = sorted(set(values))
    if len(distinct) < 2:
        return ""
    low, high = distinct[0], distinct[-1]
    if low == low.to_integral_value() and high == high.to_integral_value():
        return f"{low:.0f}–{high:.0f}"
    return f"{low:.1f}–{high:.1f}"


def _legend(catalog: Catalog) -> tuple[LegendEntry, ...]:
    entries = []
    for level in catalog.levels:
        if level.level == catalog.lowest_level:
            range_text = f"below {level.level + 0.5:.1f}"
        elif level.level == catalog.highest_level:
            range_text = f"{level.level - 0.5:.1f} and above"
        else:
            range_text = f"{level.level - 0.5:.1f}–{level.level + 0.4:.1f}"
        entries.append(
            LegendEntry(
                band=str(level.level), label=f"{level.level} {level.name}", range_text=range_text
            )
        )
    entries.append(LegendEntry(band="unknown", label="unknown", range_text="no known level"))
    return tuple(entries)


def _format_time(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M")
    zone = moment.strftime("%Z")
    return f"{text} {zone}" if zone else text
