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

TEMPLATES = {"investments": INVESTMENT, "projects": PROJECT}


def rows(kind: str, count: int, **overrides: Any) -> list[dict[str, str]]:
    """`count` valid rows of a kind with unique ids; overrides apply to every row."""
    template = TEMPLATES[kind]
    id_field = "investment_id" if kind == "investments" else "project_id"
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
