"""Small factories for evidence frames and files, shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

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

TEMPLATES = {
    "investments": INVESTMENT,
    "projects": PROJECT,
    "applications": APPLICATION,
    "decisions": DECISION,
    "risks": RISK,
    "survey": SURVEY,
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
