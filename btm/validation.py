"""The validation gate: run an evidence kind's Great Expectations suite on a parsed batch.

Suites are the reviewable JSON files in the repository's `expectations/` folder, one per
kind. Cells that could not be read as their field's type (found by the reader) join the
suite's failures, so one result explains everything wrong with a batch. Great
Expectations takes seconds to import, so it is imported here, where validation runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from btm.errors import ConfigurationError
from btm.evidence.files import ROW_COLUMN, CellProblem
from btm.evidence.kinds import kind_named

EXPECTATIONS_DIR = Path(__file__).resolve().parents[1] / "expectations"
SAMPLE_SIZE = 10
BLOCKING = frozenset({"critical"})


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    column: str | None
    severity: str
    count: int
    rows: tuple[int, ...]
    ids: tuple[str, ...]
    values: tuple[str, ...]
    fix: str

    def sentence(self) -> str:
        where = f"column {self.column}" if self.column else "the file"
        rows = ", ".join(str(r) for r in self.rows)
        more = f" (first {len(self.rows)} of {self.count})" if self.count > len(self.rows) else ""
        noun = "row" if len(self.rows) == 1 else "rows"
        detail = f": {noun} {rows}{more}" if rows else ""
        ids = f"; ids {', '.join(self.ids)}" if self.ids else ""
        values = f"; values {', '.join(repr(v) for v in self.values)}" if self.values else ""
        return (
            f"{where}, {_RULE_TEXT.get(self.rule, self.rule)}{detail}{ids}{values}; fix: {self.fix}"
        )


@dataclass(frozen=True)
class ValidationOutcome:
    kind: str
    rows: int
    failures: tuple[RuleFailure, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return not any(f.severity in BLOCKING for f in self.failures)

    def sentences(self) -> list[str]:
        return [f.sentence() for f in self.failures]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "accepted": self.accepted,
            "failures": [asdict(f) for f in self.failures],
        }


_RULE_TEXT = {
    "expect_column_to_exist": "required column is missing",
    "expect_column_values_to_not_be_null": "required value is empty",
    "expect_column_values_to_be_unique": "duplicate id",
    "expect_column_values_to_be_in_set": "value not allowed",
    "expect_column_values_to_be_between": "value out of range",
    "expect_column_pair_values_a_to_be_greater_than_b": "end before start",
    "type": "value of the wrong type",
}


@cache
def load_suite(kind: str, directory: Path = EXPECTATIONS_DIR) -> dict[str, Any]:
    path = directory / f"{kind}.json"
    try:
        suite: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"{path}: no expectation suite for kind {kind!r} ({exc.strerror}); add one"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid JSON ({exc})") from exc
    return suite


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]


def _applicable(expectations: list[dict[str, Any]], columns: set[str]) -> list[dict[str, Any]]:
    """Column rules apply only to columns the batch has; a missing required column is
    reported once, by its expect_column_to_exist rule."""
    return [
        e
        for e in expectations
        if e["type"] == "expect_column_to_exist" or set(_columns_of(e["kwargs"])) <= columns
    ]


@cache
def _gx_batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_or_update_pandas("evidence")
    asset = source.add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def _run_suite(frame: pd.DataFrame, kind: str, expectations: list[dict[str, Any]]) -> Any:
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=kind, expectations=expectations)
    batch = _gx_batch_definition().get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(
        suite,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": [ROW_COLUMN],
            "partial_unexpected_count": SAMPLE_SIZE,
        },
    )


def _failure(result: Any, frame: pd.DataFrame, id_field: str) -> RuleFailure:
    config = result.expectation_config
    kwargs = config.kwargs
    columns = _columns_of(kwargs)
    details = result.result or {}
    indexed = details.get("unexpected_index_list") or []
    rows = sorted({int(item[ROW_COLUMN]) for item in indexed})[:SAMPLE_SIZE]
    ids: list[str] = []
    if rows and id_field in frame.columns:
        by_row = frame.set_index(ROW_COLUMN)[id_field]
        ids = [str(by_row.loc[r]) for r in rows if pd.notna(by_row.loc[r])][:SAMPLE_SIZE]
    values = [str(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
    count = int(details.get("unexpected_count") or (0 if indexed else 1))
    return RuleFailure(
        rule=config.type,
        column=", ".join(columns) if columns else None,
        severity=str(getattr(config.severity, "value", config.severity) or "critical"),
        count=max(count, len(rows), 1),
        rows=tuple(rows),
        ids=tuple(dict.fromkeys(ids)),
        values=tuple(v[:60] for v in dict.fromkeys(values)) if not ids else (),
        fix=str((config.meta or {}).get("fix", "correct the export")),
    )


def _type_failure(problem: CellProblem) -> RuleFailure:
    return RuleFailure(
        rule="type",
        column=problem.column,
        severity="critical",
        count=problem.count,
        rows=problem.rows,
        ids=(),
        values=problem.values,
        fix=f"write {problem.expected} in '{problem.column}'",
    )


def validate_frame(
    frame: pd.DataFrame, kind: str, *, cell_problems: tuple[CellProblem, ...] = ()
) -> ValidationOutcome:
    """Validate a parsed batch (with its `_row` column) against its kind's suite."""
    evidence_kind = kind_named(kind)
    suite = load_suite(kind)
    expectations = _applicable(suite["expectations"], set(frame.columns))
    result = _run_suite(frame, kind, expectations)
    failures = [_type_failure(p) for p in cell_problems]
    failures += [
        _failure(r, frame, evidence_kind.id_field) for r in result.results if not r.success
    ]
    return ValidationOutcome(kind=kind, rows=len(frame), failures=tuple(failures))
