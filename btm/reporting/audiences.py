"""Who reads which trend report: the audiences, their recipients, and each one's view.

An audience is one report for a group of readers, with its own template in `reports/`:

- `pmo`: everything, the full trend report (the default audience, to BTM_REPORT_TO);
- `executive`: enterprise and area levels over every cycle, target-state readiness in
  counts of cells (`btm/readiness.py`), the top movers, the initiatives off track;
- `area_owner`: the capability x dimension heatmap of one area, each cell's reasons and
  next-level guidance;
- `business_unit`: one unit against the enterprise and the other units.

The audiences file (BTM_AUDIENCES, else `BTM_HOME/audiences.yaml`; without either, one
`stakeholders` audience of kind `pmo` to BTM_REPORT_TO) lists them:

```yaml
audiences:
  - {id: executive, kind: executive, recipients: [cio@example.org]}
  - {id: area-mti, kind: area_owner, area: MTI, recipients: [head.pmo@example.org]}
  - {id: unit-retail, kind: business_unit, unit: Retail Banking, recipients: [rb@example.org]}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from btm import store
from btm.catalog import Catalog, read_yaml
from btm.errors import ConfigurationError
from btm.improvement.backlog import cells
from btm.improvement.section import InitiativeLine
from btm.reporting.context import (
    EMPTY,
    LOW_CONFIDENCE_BELOW,
    NOT_APPLICABLE_TEXT,
    HeatmapArea,
    ReportContext,
    Summary,
    checked_scores,
    evidence_text,
    level_text,
    marks_of,
    summarise,
    summary_of,
)
from btm.reporting.self_assessment import (
    SHOWN_TO,
    SelfAssessment,
    cell_opinion,
    self_assessment_section,
)
from btm.scoring.engine import next_level_guidance
from btm.scoring.rubric import format_value, metric_label
from btm.settings import Settings
from btm.vocabulary import Basis, PulseState

if TYPE_CHECKING:
    import pandas as pd

    from btm.readiness import StateReadiness
    from btm.reporting.roadmap import Roadmap
    from btm.survey.responses import CampaignStatus

Kind = Literal["pmo", "executive", "area_owner", "business_unit"]
AUDIENCES_FILE = "audiences.yaml"  # in BTM_HOME
DEFAULT_AUDIENCE = "stakeholders"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="lower-case letters, digits and dashes: names its report files")
    kind: Kind
    recipients: list[str] = Field(default_factory=list)
    area: str | None = None
    unit: str | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("use lower-case letters, digits and dashes, e.g. area-mti")
        return value

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        wrong = [r for r in value if not _ADDRESS.match(r.strip())]
        if wrong:
            raise ValueError(f"not an email address: {', '.join(wrong)}")
        return [r.strip() for r in value]

    @property
    def title(self) -> str:
        if self.kind == "area_owner":
            return f"area owner report, {self.area}"
        if self.kind == "business_unit":
            return f"business unit report, {self.unit}"
        return {"pmo": "trend report", "executive": "executive summary"}[self.kind]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audiences: list[Audience]


def audiences_path(settings: Settings) -> Path | None:
    if settings.audiences_file:
        return settings.audiences_file
    path = settings.resolved_home / AUDIENCES_FILE
    return path if path.exists() else None


def load_audiences(settings: Settings, catalog: Catalog) -> list[Audience]:
    """The configured audiences; without an audiences file, the full report to
    BTM_REPORT_TO."""
    path = audiences_path(settings)
    if path is None:
        return [Audience(id=DEFAULT_AUDIENCE, kind="pmo", recipients=settings.report_to)]
    if not path.exists():
        raise ConfigurationError(f"BTM_AUDIENCES names {path}, which does not exist")
    try:
        audiences = _File.model_validate(read_yaml(path)).audiences
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"{path}: {problems}") from exc
    areas = {a.id for a in catalog.areas}
    seen: set[str] = set()
    for n, audience in enumerate(audiences):
        where = f"{path}: audiences.{n} ({audience.id})"
        if audience.id in seen:
            raise ConfigurationError(f"{where}: the id is used twice; give each its own")
        seen.add(audience.id)
        if audience.kind == "area_owner" and audience.area not in areas:
            raise ConfigurationError(
                f"{where}: an area_owner audience names its area: one of {', '.join(sorted(areas))}"
            )
        if audience.kind == "business_unit" and not audience.unit:
            raise ConfigurationError(f"{where}: a business_unit audience names its unit")
        if audience.kind not in ("area_owner",) and audience.area:
            raise ConfigurationError(f"{where}: only an area_owner audience names an area")
    return audiences


# the views ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPoint:
    cycle_id: str
    enterprise: float | None
    areas: tuple[float | None, ...]  # in catalogue order
    enterprise_marks: str = ""
    area_marks: tuple[str, ...] = ()  # in catalogue order


@dataclass(frozen=True)
class CellNote:
    """One capability x dimension of an area: its level, who is below target, the
    reasons (the next level's rules that do not pass) and what would lift it; the units it
    does not apply to, and what each unit's survey says beside its systems."""

    capability_id: str
    capability_name: str
    dimension: str
    level_text: str  # "2.5", "unknown" or "n/a"
    below_text: str
    guidance: tuple[str, ...]
    marks: str = ""
    not_applicable: tuple[str, ...] = ()  # "Wealth: not applicable: ..."
    opinions: tuple[str, ...] = ()  # "Retail: the unit says 3, its systems show 2"


@dataclass(frozen=True)
class Comparison:
    label: str
    value: float | None
    reference: float | None
    low: float | None
    high: float | None
    value_marks: str = ""
    reference_marks: str = ""
    evidence_text: str = ""  # the unit's: "6 of 8, 5 on systems"
    not_applicable: bool = False  # no cell of it applies to the unit

    @property
    def text(self) -> tuple[str, str, str]:
        value = NOT_APPLICABLE_TEXT if self.not_applicable else _level(self.value)
        return (
            value + self.value_marks,
            _level(self.reference) + self.reference_marks,
            _range(self.low, self.high),
        )


@dataclass(frozen=True)
class TraceLine:
    unit: str
    cell: str
    level_text: str  # "3", "unknown" or "n/a"
    rules: tuple[str, ...]
    marks: str = ""


@dataclass(frozen=True)
class AudienceView:
    """What one audience's template shows beyond the full report context."""

    audience: Audience
    report: ReportContext
    history: tuple[HistoryPoint, ...]
    readiness: StateReadiness | None  # the target state's, in counts of cells
    off_track: tuple[InitiativeLine, ...]
    area: HeatmapArea | None
    notes: tuple[CellNote, ...]
    areas_compared: tuple[Comparison, ...]
    capabilities_compared: tuple[Comparison, ...]
    traces: tuple[TraceLine, ...]
    self_assessment: SelfAssessment | None = None  # the PMO's and the area owners'
    roadmap: Roadmap | None = None  # the PMO's: the initiatives over the coming quarters

    @property
    def subject(self) -> str:
        if self.audience.kind == "pmo":
            return self.report.subject
        enterprise = self.report.enterprise
        return (
            f"BTM {self.audience.title} {self.report.cycle_id}: enterprise "
            f"{enterprise.level_text}{enterprise.marks}"
        )


def _level(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}"


def _mean(summary: Summary) -> float | None:
    mean = summary.mean
    return None if mean is None else float(mean)


def _range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "–"
    return f"{low:.1f}" if low == high else f"{low:.1f}–{high:.1f}"


def _frame(scores: Sequence[store.Score], catalog: Catalog) -> pd.DataFrame:
    return checked_scores(store.scores_frame(scores), catalog, "scores")


def level_history(
    scores_by_cycle: Sequence[tuple[str, Sequence[store.Score]]],
    catalog: Catalog,
    *,
    low_below: float = LOW_CONFIDENCE_BELOW,
) -> tuple[HistoryPoint, ...]:
    """Enterprise and area roll-ups of each cycle (the report's roll-up rule), with their
    marks."""
    points = []
    for cycle_id, scores in scores_by_cycle:
        frame = _frame(scores, catalog)
        whole = summary_of(frame)
        by_area = summarise(frame, ["area"])
        areas = [by_area.get(a.id, EMPTY) for a in catalog.areas]
        points.append(
            HistoryPoint(
                cycle_id=cycle_id,
                enterprise=_mean(whole),
                areas=tuple(_mean(s) for s in areas),
                enterprise_marks=marks_of(whole, low_below),
                area_marks=tuple(marks_of(s, low_below) for s in areas),
            )
        )
    return tuple(points)


def _cell_reason(score: store.Score) -> str:
    """Why a cell is not applicable, as its trace says."""
    entry = next((e for e in score.trace if e.get("rule") == "cell"), None)
    reason = entry.get("reason") if entry else None
    return str(reason or "not applicable: the rubric's condition does not hold")


def survey_text(score: store.Score) -> str | None:
    """What the unit's survey says beside the level its systems show; None when the
    survey says nothing of the cell."""
    opinion = cell_opinion(score)
    if opinion is None:
        return None
    if opinion.systems is None:
        return (
            f"the unit says {opinion.says}; no system evidence judged it, so the survey alone "
            f"gives level {_whole(score.level)}"
        )
    return f"the unit says {opinion.says}, its systems show {opinion.systems}"


def _whole(level: int | None) -> str:
    return "unknown" if level is None else str(level)


def area_notes(
    scores: Sequence[store.Score],
    catalog: Catalog,
    area: str,
    *,
    low_below: float = LOW_CONFIDENCE_BELOW,
) -> tuple[CellNote, ...]:
    area_of = {c.id: c.area for c in catalog.capabilities}
    in_area = [s for s in scores if area_of[s.capability] == area]
    n_units = len({s.unit for s in in_area})
    by_cell = summarise(_frame(in_area, catalog), ["capability", "dimension"])
    scores_of: dict[tuple[str, str], list[store.Score]] = {}
    for score in sorted(in_area, key=lambda s: s.unit):
        scores_of.setdefault((score.capability, score.dimension), []).append(score)
    grid = cells(in_area)
    notes = []
    for capability in (c for c in catalog.capabilities if c.area == area):
        for dimension in catalog.dimensions:
            key = (capability.id, dimension.id)
            summary = by_cell.get(key, EMPTY)
            shown = level_text(summary, n_units)
            group = scores_of.get(key, [])
            cell = grid.get(key)
            if cell is None:
                below = (
                    "applies to no unit"
                    if shown == NOT_APPLICABLE_TEXT
                    else "no unit has a known level"
                )
                guidance: tuple[str, ...] = ()
            else:
                lagging = [s.unit for s in cell.lagging]
                below = (
                    f"below target: {', '.join(sorted(lagging))}"
                    if lagging
                    else "every unit at target"
                )
                guidance = tuple(
                    f"{g.text}. {g.improve}".strip()
                    for g in next_level_guidance(cell.lowest.trace, cell.lowest.level)
                )
            notes.append(
                CellNote(
                    capability_id=capability.id,
                    capability_name=capability.name,
                    dimension=dimension.name,
                    level_text=shown,
                    below_text=below,
                    guidance=guidance[:3],
                    marks=marks_of(summary, low_below),
                    not_applicable=tuple(
                        f"{s.unit}: {_cell_reason(s)}"
                        for s in group
                        if store.basis_of(s) == Basis.NOT_APPLICABLE
                    ),
                    opinions=tuple(
                        f"{s.unit}: {text}" for s in group if (text := survey_text(s)) is not None
                    ),
                )
            )
    return tuple(notes)


def unit_comparisons(
    scores: Sequence[store.Score],
    catalog: Catalog,
    unit: str,
    *,
    low_below: float = LOW_CONFIDENCE_BELOW,
) -> tuple[tuple[Comparison, ...], tuple[Comparison, ...]]:
    """The unit against the enterprise and the range of the other units, per area and
    per capability, with the marks of both and the coverage of the unit's levels."""
    frame = _frame(scores, catalog)
    n_dimensions = len(catalog.dimensions)

    def compare(
        label: str,
        key: str,
        by_unit: Mapping[Any, Summary],
        everyone: Mapping[Any, Summary],
        cells_per_unit: int,
    ) -> Comparison:
        own = by_unit.get((unit, key), EMPTY)
        whole = everyone.get(key, EMPTY)
        others = [
            m
            for (other, of), summary in by_unit.items()
            if of == key and other != unit and (m := _mean(summary)) is not None
        ]
        return Comparison(
            label=label,
            value=_mean(own),
            reference=_mean(whole),
            low=min(others) if others else None,
            high=max(others) if others else None,
            value_marks=marks_of(own, low_below),
            reference_marks=marks_of(whole, low_below),
            evidence_text=evidence_text(own, cells_per_unit),
            not_applicable=level_text(own, cells_per_unit) == NOT_APPLICABLE_TEXT,
        )

    by_unit_area = summarise(frame, ["unit", "area"])
    by_area = summarise(frame, ["area"])
    by_unit_capability = summarise(frame, ["unit", "capability"])
    by_capability = summarise(frame, ["capability"])
    areas = tuple(
        compare(
            a.name,
            a.id,
            by_unit_area,
            by_area,
            n_dimensions * sum(c.area == a.id for c in catalog.capabilities),
        )
        for a in catalog.areas
    )
    capabilities = tuple(
        compare(f"{c.id} {c.name}", c.id, by_unit_capability, by_capability, n_dimensions)
        for c in catalog.capabilities
    )
    return areas, capabilities


def rule_text(entry: Mapping[str, Any]) -> str:
    """One rule of a stored trace in words: level, outcome, value against its threshold;
    for the cell's own entry, why it is not applicable or unknown; for the survey's, what
    the unit says."""
    if entry.get("rule") == "cell":
        return str(entry.get("reason") or entry.get("basis") or "cell")
    if entry.get("rule") == "survey":
        return f"survey: {entry.get('reason') or 'the self-assessment answers'}"
    head = f"L{entry.get('level')} {entry.get('outcome')}: "
    metric, value = entry.get("metric"), entry.get("value")
    if metric and value is not None and "threshold" in entry and "operator" in entry:
        body = (
            f"{metric_label(metric)} {format_value(metric, value)}, "
            f"needs {entry['operator']} {format_value(metric, entry['threshold'])}"
        )
    else:
        body = str(entry.get("description") or entry.get("rule") or "rule")
    reason = f" ({entry['reason']})" if entry.get("reason") else ""
    return head + body + reason


def trace_lines(
    scores: Sequence[store.Score], catalog: Catalog, *, low_below: float = LOW_CONFIDENCE_BELOW
) -> tuple[TraceLine, ...]:
    """Every rule of every score, in words: the standalone report's full traces."""
    by_score = summarise(_frame(scores, catalog), ["unit", "capability", "dimension"])
    lines = []
    for s in sorted(scores, key=lambda s: (s.unit, s.capability, s.dimension)):
        summary = by_score.get((s.unit, s.capability, s.dimension), EMPTY)
        lines.append(
            TraceLine(
                s.unit,
                f"{s.capability} {s.dimension}",
                level_text(summary, 1) if s.level is None else str(s.level),
                tuple(rule_text(e) for e in s.trace),
                marks_of(summary, low_below),
            )
        )
    return tuple(lines)


def build_view(
    audience: Audience,
    *,
    report: ReportContext,
    scores: Sequence[store.Score],
    history: tuple[HistoryPoint, ...],
    catalog: Catalog,
    campaign: CampaignStatus | None = None,
    readiness: StateReadiness | None = None,
    roadmap: Roadmap | None = None,
) -> AudienceView:
    """One audience's view of the cycle; `campaign` is the cycle's self-assessment
    campaign (None: it has none), `readiness` the target state's readiness, `roadmap`
    the cycle's initiatives over the quarters (shown to the PMO)."""
    improvement = report.improvement
    initiatives = (*improvement.executed, *improvement.backlog) if improvement else ()
    low_below = report.low_below
    scope = list(scores)
    if audience.kind == "area_owner":
        area_of = {c.id: c.area for c in catalog.capabilities}
        scope = [s for s in scores if area_of[s.capability] == audience.area]
    elif audience.kind == "business_unit":
        scope = [s for s in scores if s.unit == audience.unit]
    by_area, by_capability = (
        unit_comparisons(scores, catalog, audience.unit, low_below=low_below)
        if audience.kind == "business_unit" and audience.unit
        else ((), ())
    )
    self_assessment = (
        self_assessment_section(scores, catalog, campaign, area=audience.area)
        if audience.kind in SHOWN_TO
        else None
    )
    return AudienceView(
        audience=audience,
        report=report,
        history=history,
        readiness=readiness,
        off_track=tuple(i for i in initiatives if i.state == PulseState.OFF_TRACK),
        area=next((a for a in report.heatmap if a.area_id == audience.area), None),
        notes=(
            area_notes(scores, catalog, audience.area, low_below=low_below) if audience.area else ()
        ),
        areas_compared=by_area,
        capabilities_compared=by_capability,
        traces=trace_lines(scope, catalog, low_below=low_below),
        self_assessment=self_assessment,
        roadmap=roadmap if audience.kind == "pmo" else None,
    )
