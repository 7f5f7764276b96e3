"""Why a level is what it is, and what would lift it: the stored trace of a score, read
back with the evidence behind each rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.errors import ConfigurationError
from btm.evidence.gather import evidence_plan
from btm.fiscal import FiscalCalendar
from btm.metrics import METRICS
from btm.scoring.engine import Guidance, next_level_guidance
from btm.scoring.rubric import Rubric, format_value
from btm.vocabulary import Outcome


@dataclass(frozen=True)
class EvidenceLine:
    source: str
    sha256: str
    gathered_in: str
    age_days: int

    @property
    def text(self) -> str:
        return (
            f"{self.source} (sha256 {self.sha256[:12]}, gathered {self.gathered_in}, "
            f"{self.age_days} days old at the cycle's end)"
        )


@dataclass(frozen=True)
class RuleLine:
    rule: str
    level: int
    description: str
    outcome: str
    value: str
    threshold: str
    reason: str
    evidence: tuple[EvidenceLine, ...]
    coverage: str = ""  # "measured on 4 of 5 rows (80 %)", when the trace recorded it
    stale: bool = False


@dataclass(frozen=True)
class CellExplanation:
    cycle_id: str
    rubric_version: str
    unit: str
    capability: str
    capability_name: str
    dimension: str
    level: int | None
    basis: str
    rules: tuple[RuleLine, ...]
    guidance: tuple[Guidance, ...]
    survey: str | None = None
    target_level: int | None = None
    gap: int | None = None
    confidence: float | None = None
    confidence_text: str = ""  # "0.82 (high)", "0.31 (low)", or "" when not stored
    says: int | None = None  # what the unit's survey says of the cell
    divergence: int | None = None  # says - level, when both are known
    reason: str = ""  # why the cell is not applicable or unknown
    stale: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _kind_of(metric: str, rubric: Rubric) -> str | None:
    if metric in METRICS:
        return METRICS[metric].kind
    planned = rubric.planned.get(metric)
    return planned.kind if planned else None


def _evidence(
    engine: sa.Engine,
    cycle_id: str,
    hashes: list[str],
    carried: dict[int, str],
    calendar: FiscalCalendar,
) -> dict[str, list[EvidenceLine]]:
    """The batches behind a unit's scores, by evidence kind, with their age (`carried`:
    the batches the cycle's plan brought forward, and the cycle each came from)."""
    as_of = calendar.as_of(cycle_id)
    lines: dict[str, list[EvidenceLine]] = {}
    for batch in store.batches_by_hash(engine=engine, hashes=hashes):
        from_cycle = carried.get(batch.id or -1, cycle_id)
        lines.setdefault(batch.kind, []).append(
            EvidenceLine(
                f"{batch.source}/{batch.part}",
                batch.sha256,
                from_cycle,
                (as_of - calendar.as_of(from_cycle)).days,
            )
        )
    return lines


def explain(
    *,
    engine: sa.Engine,
    catalog: Catalog,
    rubric: Rubric,
    calendar: FiscalCalendar,
    cycle_id: str,
    capability: str,
    unit: str | None = None,
    dimension: str | None = None,
) -> list[CellExplanation]:
    """Every stored score of the capability in the cycle (narrowed to a unit and a
    dimension when given), with each rule's outcome, value, threshold and evidence, and
    the rules of the next level that do not pass yet."""
    named = catalog.capability(capability)
    if dimension is not None and dimension not in catalog.dimension_ids:
        raise ConfigurationError(
            f"unknown dimension {dimension!r}; use one of {', '.join(catalog.dimension_ids)}"
        )
    scores = [
        s
        for s in store.scores_of(engine=engine, cycle_id=cycle_id)
        if s.capability == capability
        and (unit is None or s.unit == unit)
        and (dimension is None or s.dimension == dimension)
    ]
    if not scores:
        raise ConfigurationError(
            f"no scores of {capability} in cycle {cycle_id}"
            + (f" for unit {unit!r}" if unit else "")
            + "; check the cycle with `btm status` and the unit's name"
        )
    # one plan for the cycle and one evidence lookup per unit, not one per score
    carried = evidence_plan(engine=engine, cycle_id=cycle_id).carried
    hashes = {s.unit: s.evidence_hashes for s in scores}
    evidence_by_unit = {
        unit: _evidence(engine, cycle_id, unit_hashes, carried, calendar)
        for unit, unit_hashes in hashes.items()
    }
    return [_explained(score, named.name, rubric, evidence_by_unit[score.unit]) for score in scores]


def _explained(
    score: store.Score,
    capability_name: str,
    rubric: Rubric,
    evidence: dict[str, list[EvidenceLine]],
) -> CellExplanation:
    rules, survey, reason = [], None, ""
    for entry in score.trace:
        if entry.get("rule") == "survey":
            survey = str(entry["reason"])
            continue
        if entry.get("rule") == "cell":
            reason = str(entry.get("reason", ""))
            continue
        metric = entry["metric"]
        kind = _kind_of(metric, rubric)
        value = entry.get("value")
        rules.append(
            RuleLine(
                rule=entry["rule"],
                level=int(entry["level"]),
                description=str(entry.get("description", "")),
                outcome=entry["outcome"],
                value="unknown" if value is None else format_value(metric, value),
                threshold=f"{entry['operator']} {format_value(metric, entry['threshold'])}",
                reason=str(entry.get("reason", "")),
                evidence=tuple(evidence.get(kind, [])) if kind else (),
                coverage=_coverage_text(entry),
                stale=bool(entry.get("stale")) or entry["outcome"] == Outcome.STALE,
            )
        )
    divergence = None if score.says is None or score.level is None else score.says - score.level
    return CellExplanation(
        cycle_id=score.cycle_id,
        rubric_version=score.rubric_version,
        unit=score.unit,
        capability=score.capability,
        capability_name=capability_name,
        dimension=score.dimension,
        level=score.level,
        basis=str(store.basis_of(score)),
        rules=tuple(rules),
        guidance=tuple(next_level_guidance(score.trace, score.level)),
        survey=survey,
        target_level=score.target_level,
        gap=score.gap,
        confidence=score.confidence,
        confidence_text=_confidence_text(score.confidence, rubric),
        says=score.says,
        divergence=divergence,
        reason=reason,
        stale=score.stale,
    )


def _confidence_text(confidence: float | None, rubric: Rubric) -> str:
    if confidence is None:
        return ""
    return f"{confidence:.2f} ({'low' if rubric.confidence.is_low(confidence) else 'high'})"


def _coverage_text(entry: dict[str, Any]) -> str:
    coverage, n = entry.get("coverage"), entry.get("n")
    if coverage is None or n is None or entry.get("value") is None:
        return ""  # an unknown value's reason already says how little was measured
    return f"measured on {n:g} rows, {coverage * 100:.0f} % of its population"
