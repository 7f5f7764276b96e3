"""The trend report's context: every roll-up, heatmap cell, mover and note the templates
show, computed from a cycle's scores and already formatted.

Each number carries what it rests on: its coverage (the known levels of those possible,
how many judged on system evidence, how many cells not applicable) and its marks (a level
resting in part on the survey alone, a low confidence), with one legend of the marks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

from btm.catalog import Catalog
from btm.errors import ConfigurationError
from btm.evidence.notes import DataQualityNote, QualityPoint, QuarantineNote, SourceNote, StaleNote
from btm.improvement.section import Improvement
from btm.scoring.rollup import half_up
from btm.vocabulary import Basis

if TYPE_CHECKING:
    import pandas as pd

MOVERS_SHOWN = 5


SHA256_PREFIX = 12


SCORE_COLUMNS = ("unit", "capability", "dimension", "level")


# Optional: a frame without them (stored before rubric 2027.1, or made by hand) is read as
# levels on system evidence of unknown confidence.
EVIDENCE_COLUMNS = ("basis", "confidence")


SURVEY_MARK = "*"


LOW_MARK = "~"


NOT_APPLICABLE_TEXT = "n/a"


LOW_CONFIDENCE_BELOW = 0.5  # the rubric's confidence.low_below, where none is given


ON_EVIDENCE = tuple(str(b) for b in Basis if b.on_evidence)


ROLLUP_RULE = (
    "A roll-up is the mean of the known levels under it, rounded half up to one decimal; "
    "unknown levels are left out, never counted as 0 or 1, and a roll-up with no known "
    "level is unknown. Cells not applicable to a unit are left out as well, and are not "
    "counted among the levels possible. Enterprise: every known unit x capability x "
    "dimension level; area: the known levels of its capabilities; unit: the unit's known "
    "levels; heatmap cell: the units' levels for that capability x dimension; mover: the "
    "unit's dimensions of one capability known on system evidence in both cycles. The "
    "spread is the lowest–highest of the values one step down (unit roll-ups, or a unit's "
    "levels), shown where they differ. Beside each roll-up: its known levels of those "
    "possible, how many of them rest on system evidence, and the cells not applicable."
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
    level_text: str  # "2.4", "unknown", or "n/a" when no cell under it applies
    marks: str  # printed right after level_text: SURVEY_MARK, LOW_MARK, both or ""
    band: str  # "1".."5" or "unknown": the colour band, see LegendEntry
    spread_text: str  # "1.8–3.1", or "" when fewer than two distinct values
    coverage_text: str  # known levels of those possible (not applicable left out): "41 of 66"
    evidence_text: str  # "41 of 66, 38 on systems, 2 n/a"
    change: Change


@dataclass(frozen=True)
class DimensionHeading:
    id: str
    name: str


@dataclass(frozen=True)
class HeatmapCell:
    dimension_id: str
    level: float | None
    level_text: str  # "2.5", "–" (unknown) or "n/a" (applies to no unit)
    marks: str
    band: str
    units_known: int
    units_total: int  # the units it applies to
    units_text: str  # "3/4": units with a known level / units it applies to
    detail_text: str  # "1–4 · 3/4", "3/4", "unknown" or "not applicable"
    evidence_text: str  # "3 of 4, 2 on systems, 1 n/a"


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
    """A unit x capability roll-up that moved between the two cycles, on system evidence."""

    unit: str
    capability_id: str
    capability_name: str
    before_text: str
    before_marks: str
    after_text: str
    after_marks: str
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
class MarkEntry:
    """One mark a number may carry, and what it means."""

    mark: str
    meaning: str


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
    movers_excluded: int  # unit x capability changes left out: they rest on the survey
    movers_excluded_text: str  # "2 changes resting on the survey are not ...", or ""
    quarantined: tuple[QuarantineEntry, ...]
    stale: tuple[StaleNote, ...]
    sources: tuple[SourceNote, ...]
    quality: tuple[QualityPoint, ...]
    warnings: tuple[DataQualityNote, ...]
    legend: tuple[LegendEntry, ...]
    marks_legend: tuple[MarkEntry, ...]
    low_below: float  # a mean confidence under this is marked LOW_MARK
    rollup_rule: str
    change_rule: str
    unknown_meaning: str
    cycle_months: str = ""  # the fiscal quarter's months, e.g. "Jul–Sep 2026"
    improvement: Improvement | None = None


@dataclass(frozen=True)
class Summary:
    """The cells under one roll-up: the known levels' sum, count and range, what those
    levels rest on, their stored confidence, and the cells not applicable."""

    total: int = 0
    count: int = 0  # known levels
    low: int | None = None
    high: int | None = None
    on_systems: int = 0  # known levels judged on system evidence (system or blended)
    on_survey: int = 0  # known levels resting on the survey alone
    confidence_total: float = 0.0
    rated: int = 0  # known levels with a stored confidence
    not_applicable: int = 0

    @property
    def mean(self) -> Decimal | None:
        """The roll-up rule: the mean of the known levels, half up; None when none is."""
        if not self.count:
            return None
        return half_up(Decimal(self.total) / Decimal(self.count))

    @property
    def confidence(self) -> float | None:
        """The mean confidence of the known levels that have one."""
        return self.confidence_total / self.rated if self.rated else None


EMPTY = Summary()


@dataclass(frozen=True)
class _Rollups:
    """All roll-ups of one cycle's scores, keyed by what they roll up."""

    units: tuple[str, ...]
    enterprise: Summary
    by_area: Mapping[Any, Summary]
    by_unit: Mapping[Any, Summary]
    by_unit_area: Mapping[Any, Summary]
    by_cell: Mapping[Any, Summary]
    by_unit_capability: Mapping[Any, Summary]
    by_capability: Mapping[Any, Summary]
    on_systems_by_unit_capability: Mapping[Any, Summary]  # levels on system evidence only


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
    low_below: float = LOW_CONFIDENCE_BELOW,
) -> ReportContext:
    """Reduce this cycle's and the previous cycle's scores to the report's plain values.

    Give `previous_cycle_id` and `previous_scores` together, or neither (a first cycle).
    The frames may carry `basis` and `confidence` (see `btm.store.scores_frame`); without
    them every known level counts as judged on system evidence, of unknown confidence.
    `low_below` is the rubric's `confidence.low_below`.
    """
    if (previous_cycle_id is None) != (previous_scores is None):
        raise ValueError("give previous_cycle_id and previous_scores together, or neither")
    current = _rollups(checked_scores(scores, catalog, "scores"))
    previous = (
        None
        if previous_scores is None
        else _rollups(checked_scores(previous_scores, catalog, "previous_scores"))
    )
    n_units = len(current.units)
    n_dimensions = len(catalog.dimensions)

    def rollup(
        label: str,
        code: str,
        summary: Summary,
        before: Summary | None,
        spread: Sequence[Decimal],
        cells: int,
    ) -> Rollup:
        return _rollup(
            label=label,
            code=code,
            summary=summary,
            previous=before,
            has_previous=previous is not None,
            spread=spread,
            cells=cells,
            low_below=low_below,
        )

    enterprise = rollup(
        "Enterprise",
        "",
        current.enterprise,
        None if previous is None else previous.enterprise,
        _means(current.by_unit.get(u) for u in current.units),
        n_units * len(catalog.capabilities) * n_dimensions,
    )
    areas = tuple(
        rollup(
            area.name,
            area.id,
            current.by_area.get(area.id, EMPTY),
            None if previous is None else previous.by_area.get(area.id),
            _means(current.by_unit_area.get((u, area.id)) for u in current.units),
            n_units * n_dimensions * sum(c.area == area.id for c in catalog.capabilities),
        )
        for area in catalog.areas
    )
    units = tuple(
        rollup(
            unit,
            "",
            current.by_unit.get(unit, EMPTY),
            None if previous is None else previous.by_unit.get(unit),
            _level_range(current.by_unit.get(unit, EMPTY)),
            len(catalog.capabilities) * n_dimensions,
        )
        for unit in current.units
    )
    rises, falls, excluded = _movers(current, previous, catalog, low_below)
    change = enterprise.change
    subject = (
        f"BTM maturity trend report {cycle_id}: enterprise "
        f"{enterprise.level_text}{enterprise.marks}"
    )
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
        heatmap=_heatmap(current, catalog, low_below),
        rises=rises,
        falls=falls,
        movers_excluded=excluded,
        movers_excluded_text=movers_excluded_text(excluded),
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
        marks_legend=marks_legend(low_below),
        low_below=low_below,
        rollup_rule=ROLLUP_RULE,
        change_rule=CHANGE_RULE,
        unknown_meaning=UNKNOWN_MEANING,
        cycle_months=cycle_months,
        improvement=improvement,
    )


def checked_scores(scores: pd.DataFrame, catalog: Catalog, name: str) -> pd.DataFrame:
    """The scores checked against the catalogue, with each capability's area and what
    each level rests on, ready for `summarise`."""
    import pandas as pd

    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}; expected {SCORE_COLUMNS}")
    present = [c for c in EVIDENCE_COLUMNS if c in scores.columns]
    frame = scores.loc[:, [*SCORE_COLUMNS, *present]].copy()
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
    has_level = frame["level"].notna()
    # A row without a basis reads as a legacy row does: a level on system evidence.
    legacy = has_level.map({True: str(Basis.SYSTEM), False: str(Basis.UNKNOWN)})
    basis = frame["basis"] if "basis" in frame.columns else pd.Series(None, index=frame.index)
    frame["basis"] = basis.where(basis.notna(), legacy).astype(str)
    strangers = sorted(set(frame["basis"]) - {str(b) for b in Basis})
    if strangers:
        raise ValueError(
            f"{name}: column basis has {', '.join(strangers)}; "
            f"expected one of {', '.join(str(b) for b in Basis)}"
        )
    levelless = frame["basis"].isin([str(Basis.NOT_APPLICABLE), str(Basis.UNKNOWN)])
    if (levelless & has_level).any():
        raise ValueError(f"{name}: a row of basis not_applicable or unhas_level has a level")
    confidence = (
        frame["confidence"] if "confidence" in frame.columns else pd.Series(None, index=frame.index)
    )
    frame["confidence"] = pd.to_numeric(confidence, errors="coerce").astype(float)
    frame["on_systems"] = has_level & frame["basis"].isin(ON_EVIDENCE)
    frame["on_survey"] = has_level & (frame["basis"] == str(Basis.SURVEY))
    frame["rated"] = has_level & frame["confidence"].notna()
    frame["rated_confidence"] = frame["confidence"].where(frame["rated"], 0.0)
    frame["not_applicable"] = frame["basis"] == str(Basis.NOT_APPLICABLE)
    area_of = {c.id: c.area for c in catalog.capabilities}
    frame["area"] = frame["capability"].map(area_of)
    return frame


def summarise(frame: pd.DataFrame, keys: Sequence[str]) -> dict[Any, Summary]:
    """Each group's Summary, in one vectorised pass over a `checked_scores` frame; no key
    gives the whole frame's, under the key None.

    Keys are the group's value, or a tuple of values when grouped by several columns.
    """
    import pandas as pd

    if frame.empty:
        return {}
    columns = list(keys) or ["_whole"]
    grouped = (
        frame.assign(_whole=0)
        .groupby(columns, sort=False)
        .agg(
            total=("level", "sum"),
            count=("level", "count"),
            low=("level", "min"),
            high=("level", "max"),
            on_systems=("on_systems", "sum"),
            on_survey=("on_survey", "sum"),
            confidence_total=("rated_confidence", "sum"),
            rated=("rated", "sum"),
            not_applicable=("not_applicable", "sum"),
        )
    )
    return {
        (key if keys else None): Summary(
            total=int(values["total"]),
            count=int(values["count"]),
            low=None if pd.isna(values["low"]) else int(values["low"]),
            high=None if pd.isna(values["high"]) else int(values["high"]),
            on_systems=int(values["on_systems"]),
            on_survey=int(values["on_survey"]),
            confidence_total=float(values["confidence_total"]),
            rated=int(values["rated"]),
            not_applicable=int(values["not_applicable"]),
        )
        for key, values in grouped.to_dict("index").items()
    }


def summary_of(frame: pd.DataFrame) -> Summary:
    """The Summary of every cell of a `checked_scores` frame."""
    return summarise(frame, ()).get(None, EMPTY)


def marks_of(summary: Summary, low_below: float) -> str:
    """The marks a roll-up carries: SURVEY_MARK when a known level under it rests on the
    survey alone, LOW_MARK when its known levels' mean confidence is below `low_below`."""
    marks = SURVEY_MARK if summary.on_survey else ""
    confidence = summary.confidence
    if confidence is not None and confidence < low_below:
        marks += LOW_MARK
    return marks


def possible(summary: Summary, cells: int) -> int:
    """The levels a roll-up could know: its cells, less those not applicable."""
    return max(cells - summary.not_applicable, 0)


def coverage_text(summary: Summary, cells: int) -> str:
    return f"{summary.count} of {possible(summary, cells)}"


def evidence_text(summary: Summary, cells: int) -> str:
    """Its coverage, how many of its levels rest on system evidence, and its cells not
    applicable: "41 of 66, 38 on systems, 2 n/a"."""
    text = f"{coverage_text(summary, cells)}, {summary.on_systems} on systems"
    if summary.not_applicable:
        text += f", {summary.not_applicable} {NOT_APPLICABLE_TEXT}"
    return text


def level_text(summary: Summary, cells: int, unknown: str = "unknown") -> str:
    """The level, `unknown` without a known level, or "n/a" when no cell applies."""
    mean = summary.mean
    if mean is not None:
        return f"{mean:.1f}"
    if summary.not_applicable and not possible(summary, cells):
        return NOT_APPLICABLE_TEXT
    return unknown


def marks_legend(low_below: float = LOW_CONFIDENCE_BELOW) -> tuple[MarkEntry, ...]:
    return (
        MarkEntry(
            SURVEY_MARK,
            "rests in part on the self-assessment survey alone, not on system evidence",
        ),
        MarkEntry(
            LOW_MARK,
            f"low confidence (below {low_below:g}): little of the population measured, "
            "few rows or stale evidence",
        ),
        MarkEntry(
            NOT_APPLICABLE_TEXT,
            "not applicable to the unit (the rubric says why); left out of every roll-up "
            "and of the levels possible",
        ),
    )


def movers_excluded_text(excluded: int) -> str:
    if not excluded:
        return ""
    if excluded == 1:
        return "1 change resting on the survey is not counted as a mover."
    return f"{excluded} changes resting on the survey are not counted as movers."


def _rollups(frame: pd.DataFrame) -> _Rollups:
    return _Rollups(
        units=tuple(sorted(frame["unit"].unique())),
        enterprise=summary_of(frame),
        by_area=summarise(frame, ["area"]),
        by_unit=summarise(frame, ["unit"]),
        by_unit_area=summarise(frame, ["unit", "area"]),
        by_cell=summarise(frame, ["capability", "dimension"]),
        by_unit_capability=summarise(frame, ["unit", "capability"]),
        by_capability=summarise(frame, ["capability"]),
        on_systems_by_unit_capability=summarise(frame[frame["on_systems"]], ["unit", "capability"]),
    )


def _rollup(
    *,
    label: str,
    code: str,
    summary: Summary,
    previous: Summary | None,
    has_previous: bool,
    spread: Sequence[Decimal],
    cells: int,
    low_below: float,
) -> Rollup:
    mean = summary.mean
    return Rollup(
        label=label,
        code=code,
        level=None if mean is None else float(mean),
        level_text=level_text(summary, cells),
        marks=marks_of(summary, low_below),
        band=_band(mean),
        spread_text=_spread_text(spread),
        coverage_text=coverage_text(summary, cells),
        evidence_text=evidence_text(summary, cells),
        change=_change(mean, None if previous is None else previous.mean, has_previous),
    )


def _means(summaries: Iterable[Summary | None]) -> list[Decimal]:
    return [m for m in (s.mean for s in summaries if s is not None) if m is not None]


def _level_range(summary: Summary) -> list[Decimal]:
    if summary.low is None or summary.high is None:
        return []
    return [Decimal(summary.low), Decimal(summary.high)]


def _heatmap(current: _Rollups, catalog: Catalog, low_below: float) -> tuple[HeatmapArea, ...]:
    n_units = len(current.units)
    groups = []
    for area in catalog.areas:
        rows = []
        for capability in (c for c in catalog.capabilities if c.area == area.id):
            cells = [
                _heat_cell(
                    dimension.id,
                    current.by_cell.get((capability.id, dimension.id), EMPTY),
                    n_units,
                    low_below,
                )
                for dimension in catalog.dimensions
            ]
            overall = _heat_cell(
                "capability",
                current.by_capability.get(capability.id, EMPTY),
                n_units * len(catalog.dimensions),
                low_below,
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


def _heat_cell(dimension_id: str, summary: Summary, cells: int, low_below: float) -> HeatmapCell:
    mean = summary.mean
    applies = possible(summary, cells)
    return HeatmapCell(
        dimension_id=dimension_id,
        level=None if mean is None else float(mean),
        level_text=level_text(summary, cells, unknown="–"),
        marks=marks_of(summary, low_below),
        band=_band(mean),
        units_known=summary.count,
        units_total=applies,
        units_text=f"{summary.count}/{applies}",
        detail_text=_cell_detail(summary, cells),
        evidence_text=evidence_text(summary, cells),
    )


def _cell_detail(summary: Summary, cells: int) -> str:
    if summary.low is None or summary.high is None:
        if level_text(summary, cells) == NOT_APPLICABLE_TEXT:
            return "not applicable"
        return "unknown"
    units = f"{summary.count}/{possible(summary, cells)}"
    if summary.low == summary.high:
        return units
    return f"{summary.low}–{summary.high} · {units}"


def _movers(
    current: _Rollups, previous: _Rollups | None, catalog: Catalog, low_below: float
) -> tuple[tuple[Mover, ...], tuple[Mover, ...], int]:
    """The unit x capability roll-ups known on system evidence in both cycles that rose
    or fell the most, and how many other roll-ups changed: those changes rest on the
    survey."""
    if previous is None:
        return (), (), 0
    order = {capability_id: index for index, capability_id in enumerate(catalog.capability_ids)}
    moved: list[tuple[Decimal, str, str, Summary, Summary]] = []
    for key, summary in current.on_systems_by_unit_capability.items():
        before = previous.on_systems_by_unit_capability.get(key)
        if before is None or before.mean is None or summary.mean is None:
            continue  # unknown last cycle: a "new" level, not a movement
        unit, capability_id = key
        delta = summary.mean - before.mean
        if delta != 0:
            moved.append((delta, str(unit), str(capability_id), before, summary))
    on_systems = {(unit, capability_id) for _, unit, capability_id, _, _ in moved}
    excluded = 0
    for key, summary in current.by_unit_capability.items():
        before = previous.by_unit_capability.get(key)
        if before is None or before.mean is None or summary.mean is None:
            continue
        # Without a survey level on either side both roll-ups are the same, so a change
        # that is no mover on system evidence is one the survey made.
        if summary.mean != before.mean and (str(key[0]), str(key[1])) not in on_systems:
            excluded += 1

    def mover(item: tuple[Decimal, str, str, Summary, Summary]) -> Mover:
        _, unit, capability_id, before, after = item
        assert before.mean is not None and after.mean is not None  # known on both sides
        return Mover(
            unit=unit,
            capability_id=capability_id,
            capability_name=catalog.capability(capability_id).name,
            before_text=f"{before.mean:.1f}",
            before_marks=marks_of(before, low_below),
            after_text=f"{after.mean:.1f}",
            after_marks=marks_of(after, low_below),
            change=_change(after.mean, before.mean, True),
        )

    # Ties are broken by unit then catalogue order, so the same scores give the same list.
    rises = sorted((m for m in moved if m[0] > 0), key=lambda m: (-m[0], m[1], order[m[2]]))
    falls = sorted((m for m in moved if m[0] < 0), key=lambda m: (m[0], m[1], order[m[2]]))
    return (
        tuple(mover(m) for m in rises[:MOVERS_SHOWN]),
        tuple(mover(m) for m in falls[:MOVERS_SHOWN]),
        excluded,
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
