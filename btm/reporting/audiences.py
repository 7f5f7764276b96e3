"""Who reads which trend report: the audiences, their recipients, and each one's view.

An audience is one report for a group of readers, with its own template in `reports/`:

- `pmo`: everything, the full trend report (the default audience, to BTM_REPORT_TO);
- `executive`: enterprise and area levels over every cycle, the target and the gap, the
  top movers, the initiatives off track;
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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from btm import store
from btm.catalog import Catalog, read_yaml
from btm.errors import ConfigurationError
from btm.improvement.backlog import cells
from btm.improvement.section import InitiativeLine
from btm.reporting.context import HeatmapArea, ReportContext
from btm.scoring.engine import next_level_guidance
from btm.scoring.rollup import mean_level
from btm.scoring.rubric import format_value, metric_label
from btm.settings import Settings
from btm.vocabulary import PulseState

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


@dataclass(frozen=True)
class TargetLine:
    label: str
    level_text: str
    target_text: str
    gap_text: str  # "0.4 to go", "at target" or "unknown"


@dataclass(frozen=True)
class CellNote:
    """One capability x dimension of an area: its level, who is below target, the
    reasons (the next level's rules that do not pass) and what would lift it."""

    capability_id: str
    capability_name: str
    dimension: str
    level_text: str
    below_text: str
    guidance: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    label: str
    value: float | None
    reference: float | None
    low: float | None
    high: float | None

    @property
    def text(self) -> tuple[str, str, str]:
        return (_level(self.value), _level(self.reference), _range(self.low, self.high))


@dataclass(frozen=True)
class TraceLine:
    unit: str
    cell: str
    level_text: str
    rules: tuple[str, ...]


@dataclass(frozen=True)
class AudienceView:
    """What one audience's template shows beyond the full report context."""

    audience: Audience
    report: ReportContext
    history: tuple[HistoryPoint, ...]
    targets: tuple[TargetLine, ...]
    off_track: tuple[InitiativeLine, ...]
    area: HeatmapArea | None
    notes: tuple[CellNote, ...]
    areas_compared: tuple[Comparison, ...]
    capabilities_compared: tuple[Comparison, ...]
    traces: tuple[TraceLine, ...]

    @property
    def subject(self) -> str:
        if self.audience.kind == "pmo":
            return self.report.subject
        return (
            f"BTM {self.audience.title} {self.report.cycle_id}: enterprise "
            f"{self.report.enterprise.level_text}"
        )


def _level(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}"


def _range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "–"
    return f"{low:.1f}" if low == high else f"{low:.1f}–{high:.1f}"


def level_history(
    scores_by_cycle: Sequence[tuple[str, Sequence[store.Score]]], catalog: Catalog
) -> tuple[HistoryPoint, ...]:
    """Enterprise and area roll-ups of each cycle (the report's roll-up rule)."""
    area_of = {c.id: c.area for c in catalog.capabilities}
    return tuple(
        HistoryPoint(
            cycle_id=cycle_id,
            enterprise=mean_level([s.level for s in scores]),
            areas=tuple(
                mean_level([s.level for s in scores if area_of[s.capability] == a.id])
                for a in catalog.areas
            ),
        )
        for cycle_id, scores in scores_by_cycle
    )


def target_lines(scores: Sequence[store.Score], catalog: Catalog) -> tuple[TargetLine, ...]:
    """The enterprise's and each area's mean level against the mean target of the same
    known cells, and the gap between them."""
    area_of = {c.id: c.area for c in catalog.capabilities}
    groups = [("Enterprise", list(scores))] + [
        (a.name, [s for s in scores if area_of[s.capability] == a.id]) for a in catalog.areas
    ]
    lines = []
    for label, group in groups:
        known = [s for s in group if s.level is not None and s.target_level is not None]
        level = mean_level([s.level for s in known])
        target = mean_level([s.target_level for s in known])
        if level is None or target is None:
            gap = "unknown"
        else:
            gap = "at target" if level >= target else f"{target - level:.1f} to go"
        lines.append(TargetLine(label, _level(level), _level(target), gap))
    return tuple(lines)


def area_notes(scores: Sequence[store.Score], catalog: Catalog, area: str) -> tuple[CellNote, ...]:
    grid = cells(scores)
    notes = []
    for capability in (c for c in catalog.capabilities if c.area == area):
        for dimension in catalog.dimensions:
            cell = grid.get((capability.id, dimension.id))
            if cell is None:
                notes.append(
                    CellNote(
                        capability.id,
                        capability.name,
                        dimension.name,
                        "unknown",
                        "no unit has a known level",
                        (),
                    )
                )
                continue
            below = [s.unit for s in cell.lagging]
            guidance = tuple(
                f"{g.text}. {g.improve}".strip()
                for g in next_level_guidance(cell.lowest.trace, cell.lowest.level)
            )
            notes.append(
                CellNote(
                    capability.id,
                    capability.name,
                    dimension.name,
                    _level(mean_level([s.level for s in cell.scores])),
                    f"below target: {', '.join(sorted(below))}"
                    if below
                    else "every unit at target",
                    guidance[:3],
                )
            )
    return tuple(notes)


def unit_comparisons(
    scores: Sequence[store.Score], catalog: Catalog, unit: str
) -> tuple[tuple[Comparison, ...], tuple[Comparison, ...]]:
    """The unit against the enterprise and the range of the other units, per area and
    per capability."""
    area_of = {c.id: c.area for c in catalog.capabilities}

    def compare(label: str, belongs: Sequence[store.Score]) -> Comparison:
        others: dict[str, list[int | None]] = {}
        for s in belongs:
            if s.unit != unit:
                others.setdefault(s.unit, []).append(s.level)
        other_means = [m for m in (mean_level(v) for v in others.values()) if m is not None]
        return Comparison(
            label=label,
            value=mean_level([s.level for s in belongs if s.unit == unit]),
            reference=mean_level([s.level for s in belongs]),
            low=min(other_means) if other_means else None,
            high=max(other_means) if other_means else None,
        )

    by_area = tuple(
        compare(a.name, [s for s in scores if area_of[s.capability] == a.id]) for a in catalog.areas
    )
    by_capability = tuple(
        compare(f"{c.id} {c.name}", [s for s in scores if s.capability == c.id])
        for c in catalog.capabilities
    )
    return by_area, by_capability


def rule_text(entry: Mapping[str, Any]) -> str:
    """One rule of a stored trace in words: level, outcome, value against its threshold."""
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


def trace_lines(scores: Sequence[store.Score]) -> tuple[TraceLine, ...]:
    """Every rule of every score, in words: the standalone report's full traces."""
    return tuple(
        TraceLine(
            s.unit,
            f"{s.capability} {s.dimension}",
            _level(s.level),
            tuple(rule_text(e) for e in s.trace),
        )
        for s in sorted(scores, key=lambda s: (s.unit, s.capability, s.dimension))
    )


def build_view(
    audience: Audience,
    *,
    report: ReportContext,
    scores: Sequence[store.Score],
    history: tuple[HistoryPoint, ...],
    catalog: Catalog,
) -> AudienceView:
    improvement = report.improvement
    initiatives = (*improvement.executed, *improvement.backlog) if improvement else ()
    scope = list(scores)
    if audience.kind == "area_owner":
        area_of = {c.id: c.area for c in catalog.capabilities}
        scope = [s for s in scores if area_of[s.capability] == audience.area]
    elif audience.kind == "business_unit":
        scope = [s for s in scores if s.unit == audience.unit]
    by_area, by_capability = (
        unit_comparisons(scores, catalog, audience.unit)
        if audience.kind == "business_unit" and audience.unit
        else ((), ())
    )
    return AudienceView(
        audience=audience,
        report=report,
        history=history,
        targets=target_lines(scores, catalog),
        off_track=tuple(i for i in initiatives if i.state == PulseState.OFF_TRACK),
        area=next((a for a in report.heatmap if a.area_id == audience.area), None),
        notes=area_notes(scores, catalog, audience.area) if audience.area else (),
        areas_compared=by_area,
        capabilities_compared=by_capability,
        traces=trace_lines(scope),
    )
