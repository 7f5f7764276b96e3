"""Small factories shared by the tests: evidence rows, files and quarters of exports, and
hand-made score frames with the report context built on them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from btm import store
from btm.catalog import Catalog
from btm.evidence.notes import QuarantineNote, StaleNote
from btm.reporting.context import ReportContext, build_report_context

INVESTMENT = {
    "investment_id": "INV-1",
    "business_unit": "Retail",
    "name": "Core banking renewal",
    "category": "transform",
    "status": "active",
    "approval_date": "2026-01-15",
    "budget": "1000",
    "actual_spend": "400",
    "business_case": "true",
    "expected_benefit": "2000",
    "realized_benefit": "",
    "strategic_objective": "Digital first",
    "sponsor": "COO",
    "decision_body": "Business Technology Investment Board",
}

PROJECT = {
    "project_id": "PRJ-1",
    "investment_id": "INV-1",
    "business_unit": "Retail",
    "name": "Payments API",
    "status": "active",
    "health": "green",
    "planned_start": "2026-01-01",
    "planned_end": "2026-06-30",
    "forecast_end": "2026-06-15",
    "actual_end": "",
    "budget": "500",
    "actual_cost": "200",
    "percent_complete": "40",
    "last_status_update": "2026-03-20",
    "architecture_reviewed": "yes",
}

APPLICATION = {
    "application_id": "APP-1",
    "business_unit": "Retail",
    "name": "Core ledger",
    "owner": "Head of Payments",
    "lifecycle_decision": "invest",
    "standards_compliant": "yes",
    "annual_cost": "120000",
    "capability_served": "Payments",
    "last_reviewed": "2026-02-15",
}

DECISION = {
    "decision_id": "DEC-1",
    "business_unit": "Retail",
    "title": "Fund the payments API",
    "decision_body": "Business Technology Investment Board",
    "body_type": "participative",
    "decision_object": "investment",
    "decision_date": "2026-02-10",
    "rationale": "Supports the digital-first objective",
}

RISK = {
    "risk_id": "RSK-1",
    "business_unit": "Retail",
    "title": "Ledger vendor end of support",
    "owner": "CIO",
    "severity": "high",
    "mitigation": "Upgrade by Q3",
    "review_date": "2026-03-01",
    "status": "open",
}

SURVEY = {
    "response_id": "SRV-1",
    "respondent_role": "pmo",
    "business_unit": "Retail",
    "capability": "MTI-2",
    "dimension": "process",
    "score": "3",
    "comment": "",
    "answered_on": "2026-03-15",
}

BUDGET = {
    "budget_line_id": "BUD-1",
    "business_unit": "Retail",
    "period": "FY2026",
    "line_name": "Payments modernisation",
    "category": "transform",
    "planned": "1000",
    "approved": "900",
    "actual": "450",
    "owner": "Head of Payments",
    "strategic_objective": "OBJ-1",
    "planning_system": "Anaplan",
}

RESOURCE = {
    "resource_id": "RES-1",
    "business_unit": "Retail",
    "record_type": "request",
    "role": "Data engineer",
    "demand": "2",
    "allocated": "2",
    "actual": "2",
    "status": "allocated",
    "owner": "Delivery lead",
    "start_date": "2026-01-01",
    "end_date": "2026-06-30",
    "tool": "Planview",
}

VENDOR = {
    "vendor_id": "VEN-1",
    "business_unit": "Retail",
    "name": "Ledger Systems Ltd",
    "tier": "strategic",
    "relationship_owner": "Head of Sourcing",
    "last_strategy_review": "2026-01-20",
    "performance_score": "80",
    "contract_end": "2027-12-31",
    "in_register": "yes",
    "preference": "preferred",
}

OBJECTIVE = {
    "objective_id": "OBJ-1",
    "business_unit": "Retail",
    "title": "Digital first",
    "owner": "COO",
    "period": "FY2026",
    "status": "active",
    "capabilities": "SP-1, MTI-1",
    "progress": "75",
}

TEMPLATES = {
    "investments": INVESTMENT,
    "projects": PROJECT,
    "applications": APPLICATION,
    "decisions": DECISION,
    "risks": RISK,
    "survey": SURVEY,
    "budgets": BUDGET,
    "resources": RESOURCE,
    "vendors": VENDOR,
    "objectives": OBJECTIVE,
}


def rows(kind: str, count: int, **overrides: Any) -> list[dict[str, str]]:
    """`count` valid rows of a kind with unique ids; overrides apply to every row."""
    template = TEMPLATES[kind]
    id_field = next(iter(template))  # every template starts with its kind's id
    out = []
    for i in range(count):
        row = {**template, **{k: str(v) for k, v in overrides.items()}}
        row[id_field] = f"{template[id_field].split('-')[0]}-{i + 1}"
        out.append(row)
    return out


def write_csv(
    path: Path, records: list[dict[str, str]], *, sep: str = ",", bom: bool = False
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = pd.DataFrame(records).to_csv(index=False, sep=sep, lineterminator="\n")
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def write_quarter(
    inbox: Path,
    *,
    case_share: float,
    bad_projects: bool = False,
    projects: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Investments and projects of two units. `case_share` of the investments have a
    business case; `bad_projects` gives one Wealth project a negative budget; `projects`
    overrides fields of single projects by id (PRJ-Retail-0 .. PRJ-Wealth-9)."""
    for unit in ("Retail", "Wealth"):
        investments = rows("investments", 20, business_unit=unit)
        for i, record in enumerate(investments):
            record["investment_id"] = f"INV-{unit}-{i}"
            record["business_case"] = "yes" if i < case_share * 20 else "no"
        write_csv(inbox / f"investments-{unit.lower()}.csv", investments)
        records = rows("projects", 10, business_unit=unit)
        for i, record in enumerate(records):
            record["project_id"] = f"PRJ-{unit}-{i}"
            record["investment_id"] = f"INV-{unit}-{i}"
            record.update((projects or {}).get(record["project_id"], {}))
        if bad_projects and unit == "Wealth":
            records[3]["budget"] = "-5"
        write_csv(inbox / f"projects-{unit.lower()}.csv", records)
    return inbox


# Hand-made scores for the report tests -------------------------------------------------

Levels = dict[tuple[str, str, str], int]

EVIL_UNIT = "<script>alert(1)</script>"
UNITS = ["Insurance", "Retail", "Wealth"]
# Wealth has no known level in either cycle.
CURRENT: Levels = {
    ("Insurance", "MTI-2", "process"): 2,
    ("Insurance", "MTI-2", "information"): 3,
    ("Retail", "MTI-2", "process"): 4,
    ("Retail", "GO-1", "process"): 1,
    ("Retail", "GO-1", "technology"): 2,
}
PREVIOUS: Levels = {
    ("Insurance", "MTI-2", "process"): 1,
    ("Retail", "MTI-2", "process"): 3,
    ("Retail", "GO-1", "process"): 2,
    ("Retail", "GO-1", "technology"): 3,
}


def score_frame(
    catalog: Catalog,
    units: list[str],
    levels: Levels,
    *,
    basis: Mapping[tuple[str, str, str], str] | None = None,
    confidence: Mapping[tuple[str, str, str], float] | None = None,
) -> pd.DataFrame:
    """Every unit x capability x dimension of the catalogue, unknown unless given.

    Without `basis` and `confidence` the frame has only the four columns of a frame made
    before rubric 2027.1. With either, it has both, as `btm.store.scores_frame` gives
    them: a cell's basis is the one given, else system when it has a level and unknown
    when not; its confidence the one given, else 0.9 for a level and none without one.
    """
    keys = [
        (unit, capability, dimension)
        for unit in units
        for capability in catalog.capability_ids
        for dimension in catalog.dimension_ids
    ]
    frame = pd.DataFrame(
        [(*key, levels.get(key)) for key in keys],
        columns=["unit", "capability", "dimension", "level"],
    )
    frame["level"] = frame["level"].astype("Int64")
    if basis is None and confidence is None:
        return frame
    basis, confidence = basis or {}, confidence or {}
    frame["basis"] = [basis.get(key, "system" if key in levels else "unknown") for key in keys]
    frame["confidence"] = [
        confidence.get(key, 0.9 if key in levels else float("nan")) for key in keys
    ]
    return frame


def stored_scores(
    catalog: Catalog,
    units: list[str],
    levels: Levels,
    *,
    basis: Mapping[tuple[str, str, str], str] | None = None,
    confidence: Mapping[tuple[str, str, str], float] | None = None,
    traces: Mapping[tuple[str, str, str], list[dict[str, Any]]] | None = None,
    cycle_id: str = "2026-Q3",
    target_level: int = 3,
) -> list[store.Score]:
    """`score_frame`'s cells as the store holds them, with its defaults for basis and
    confidence, each with `target_level` and its trace from `traces` (else none)."""
    basis, confidence, traces = basis or {}, confidence or {}, traces or {}
    scores = []
    for unit in units:
        for capability in catalog.capability_ids:
            for dimension in catalog.dimension_ids:
                key = (unit, capability, dimension)
                level = levels.get(key)
                scores.append(
                    store.Score(
                        cycle_id=cycle_id,
                        unit=unit,
                        capability=capability,
                        dimension=dimension,
                        level=level,
                        target_level=target_level,
                        basis=basis.get(key, "unknown" if level is None else "system"),
                        confidence=confidence.get(key, None if level is None else 0.9),
                        rubric_version="2027.1",
                        trace=list(traces.get(key, [])),
                    )
                )
    return scores


def report_context(
    catalog: Catalog,
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    quarantined: tuple[QuarantineNote, ...] = (),
    stale: tuple[StaleNote, ...] = (),
    low_below: float = 0.5,
) -> ReportContext:
    """The context of cycle 2026-Q3 (after 2026-Q2 when `previous` is given)."""
    return build_report_context(
        catalog=catalog,
        cycle_id="2026-Q3",
        previous_cycle_id=None if previous is None else "2026-Q2",
        scores=current,
        previous_scores=previous,
        quarantined=quarantined,
        stale=stale,
        rubric_version="2026.3",
        generated_at=datetime(2026, 10, 1, 6, 0, tzinfo=UTC),
        low_below=low_below,
    )
