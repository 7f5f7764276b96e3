"""The validation gate: run an evidence kind's Great Expectations suite on a parsed batch.

Suites are the reviewable JSON files in the repository's `expectations/` folder, one per
kind. Each expectation is an error (`severity: critical`: the batch is quarantined) or a
warning (the batch is accepted with a data-quality note); the PMO changes severities in
the files. Three additions are resolved here before GE runs, so the files stay plain GE
configurations: date bounds become timestamps, `meta.max_years_after_as_of` bounds a
date by the cycle's as-of date, and `meta.known_ids_of` fills a value set with the ids of
another kind's accepted evidence (a rule that cannot be checked is skipped and said so).
Cells that could not be read as their field's type (found by the reader) join the
failures, so one result explains everything wrong with a batch. Great Expectations takes
seconds to import, so it is imported here, where validation runs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from btm.columns import is_in
from btm.errors import ConfigurationError
from btm.evidence.files import PYTHON_SPACE, ROW_COLUMN, CellProblem
from btm.evidence.kinds import kind_named
from btm.resources import SUITES_DIR, first_file, reread_when_changed

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SIZE = 10
BLOCKING = frozenset({"critical"})
WARNING_PREFIX = "warning: "  # how the sentence of a non-blocking failure begins


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
    text: str | None = None  # the suite's own words for the rule (meta.describe)

    def sentence(self) -> str:
        where = f"column {self.column}" if self.column else "the file"
        rows = ", ".join(str(r) for r in self.rows)
        noun = "row" if len(self.rows) == 1 else "rows"
        if self.count > len(self.rows):
            detail = f": {noun} {rows} (first {len(self.rows)} of {self.count} rows)"
        else:
            detail = f": {noun} {rows}" + (f" ({self.count} rows)" if self.count > 1 else "")
        detail = detail if rows else ""
        ids = f"; ids {', '.join(self.ids)}" if self.ids else ""
        values = f"; values {', '.join(repr(v) for v in self.values)}" if self.values else ""
        label = WARNING_PREFIX if self.severity not in BLOCKING else ""
        rule = self.text or _RULE_TEXT.get(self.rule, self.rule)
        return f"{label}{where}, {rule}{detail}{ids}{values}; fix: {self.fix}"


@dataclass(frozen=True)
class ValidationOutcome:
    kind: str
    rows: int
    failures: tuple[RuleFailure, ...] = field(default=())
    skipped: tuple[str, ...] = field(default=())  # rules that could not be checked, and why

    @property
    def accepted(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[RuleFailure, ...]:
        return tuple(f for f in self.failures if f.severity in BLOCKING)

    @property
    def warnings(self) -> tuple[RuleFailure, ...]:
        return tuple(f for f in self.failures if f.severity not in BLOCKING)

    def sentences(self) -> list[str]:
        """Errors first, then warnings, each naming its column, rows, ids and fix."""
        return [f.sentence() for f in (*self.errors, *self.warnings)]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "accepted": self.accepted,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "failures": [asdict(f) for f in (*self.errors, *self.warnings)],
            "skipped": list(self.skipped),
        }


_RULE_TEXT = {
    "expect_column_to_exist": "required column is missing",
    "expect_column_values_to_not_be_null": "required value is empty",
    "expect_column_values_to_be_unique": "duplicate id",
    "expect_column_values_to_be_in_set": "value not allowed",
    "expect_column_values_to_be_between": "value out of range",
    "expect_column_pair_values_a_to_be_greater_than_b": "end before start",
    "expect_column_values_to_be_null": "value must be empty here",
    "expect_column_values_to_not_match_regex": "value not allowed as text",
    "type": "value of the wrong type",
}
# rules whose failing values are empty or the ids themselves: listing them says nothing
_NO_VALUES = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_unique"})


def load_suite(kind: str, suites: Sequence[Path] = (SUITES_DIR,)) -> dict[str, Any]:
    """The kind's suite from the first of `suites` that has one (the PMO's folder in
    BTM_HOME first, then the shipped suites)."""
    return _read_suite(first_file(f"{kind}.json", suites), kind)


@reread_when_changed
def _read_suite(path: Path, kind: str) -> dict[str, Any]:
    try:
        suite: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"{path}: no expectation suite for kind {kind!r} ({exc.strerror}); add one"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid JSON ({exc})") from exc
    return suite


_CONDITION_COLUMN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)")


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]


def _needed_columns(kwargs: dict[str, Any]) -> set[str]:
    """The columns a rule reads, its row condition's included."""
    needed = set(_columns_of(kwargs))
    condition = _CONDITION_COLUMN.match(str(kwargs.get("row_condition", "")))
    return needed | {condition.group(1)} if condition else needed


def re2_friendly(regex: str) -> str:
    r"""`regex` with each `\s` outside a character class spelt out as `PYTHON_SPACE`;
    left as it is when a `\s` sits inside a class, where it cannot be. pandas hands a
    regex on Arrow text to Arrow's RE2, ten times faster on a million rows, unless it
    holds `\s`, whose RE2 meaning is narrower (no vertical tab, no Unicode spaces);
    spelt out, it means the same in both."""
    out: list[str] = []
    in_class = False
    chars = iter(regex)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped == "s":
                if in_class:
                    return regex
                out.append(PYTHON_SPACE)
                continue
            out.append(char + escaped)
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class and out[-1] != "[":
            in_class = False
        out.append(char)
    return "".join(out)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class _Prepared:
    """A batch's applicable rules: for GE, checked here against known ids, or skipped."""

    for_ge: list[dict[str, Any]]
    known_id_rules: list[tuple[dict[str, Any], Set[str]]]
    skipped: list[str]


def _prepared(
    expectations: list[dict[str, Any]],
    frame: pd.DataFrame,
    *,
    as_of: date,
    known_ids: Mapping[str, Set[str]] | None,
) -> _Prepared:
    """The rules that apply to this batch, ready for GE, and the ones skipped with why.

    Column rules apply only to columns the batch has; a missing required column is
    reported once, by its expect_column_to_exist rule."""
    import pandas as pd

    columns = set(frame.columns)
    ready: list[dict[str, Any]] = []
    against_ids: list[tuple[dict[str, Any], Set[str]]] = []
    skipped: list[str] = []
    for original in expectations:
        expectation = copy.deepcopy(original)
        kwargs, meta = expectation["kwargs"], expectation.get("meta") or {}
        if (
            expectation["type"] != "expect_column_to_exist"
            and not _needed_columns(kwargs) <= columns
        ):
            continue
        if "known_ids_of" in meta:
            other = meta["known_ids_of"]
            if known_ids is None or other not in known_ids:
                skipped.append(
                    f"column {kwargs['column']}: not checked against known {other} "
                    f"(no {other} evidence given)"
                )
                continue
            # GE re-serialises a rule's kwargs thousands of times; with 100k ids in the
            # value set that alone takes seconds, so this one rule is checked here.
            against_ids.append((expectation, known_ids[other]))
            continue
        if isinstance(kwargs.get("regex"), str):
            kwargs["regex"] = re2_friendly(kwargs["regex"])
        if expectation["type"] == "expect_column_values_to_be_between" and (
            pd.api.types.is_datetime64_any_dtype(frame[kwargs["column"]])
        ):
            for bound in ("min_value", "max_value"):
                if kwargs.get(bound) is not None:
                    kwargs[bound] = pd.Timestamp(kwargs[bound])
            if "max_years_after_as_of" in meta:
                limit = _add_years(as_of, int(meta["max_years_after_as_of"]))
                kwargs["max_value"] = pd.Timestamp(limit)
        ready.append(expectation)
    return _Prepared(ready, against_ids, skipped)


def referenced_kinds(kind: str, suites: Sequence[Path] = (SUITES_DIR,)) -> set[str]:
    """The kinds whose ids a kind's suite checks against (`meta.known_ids_of`)."""
    return {
        e["meta"]["known_ids_of"]
        for e in load_suite(kind, suites)["expectations"]
        if "known_ids_of" in (e.get("meta") or {})
    }


@cache
def _gx_batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GE fingerprints every in-memory frame below 1 GB (an md5 over all its cells) only to
    # label the batch; we never read that label, and on 1M rows it costs more than every
    # expectation of the suite together.
    pandas_execution_engine.HASH_THRESHOLD = 0

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_or_update_pandas("evidence")
    asset = source.add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def _run_suite(
    frame: pd.DataFrame, kind: str, expectations: list[dict[str, Any]], *, detail: bool
) -> Any:
    """GE's verdict on the rules; with `detail`, the failing rows and values too."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=kind, expectations=expectations)
    batch = _gx_batch_definition().get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(
        suite,
        # Without unexpected_index_column_names GE reports positions (the frame is numbered
        # 0..n-1), which map onto spreadsheet rows without a Python dict per failing row.
        result_format=(
            {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
            if detail
            else {"result_format": "BOOLEAN_ONLY"}
        ),
    )


def _raised(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error").splitlines()[0]
    return None


def _failure(result: Any, frame: pd.DataFrame, id_field: str) -> RuleFailure:
    config = result.expectation_config
    kwargs = config.kwargs
    columns = _columns_of(kwargs)
    if (error := _raised(result)) is not None:
        # A rule that cannot run is the suite's fault, not the batch's: say so, block.
        return RuleFailure(
            rule=config.type,
            column=", ".join(columns) or None,
            severity="critical",
            count=1,
            rows=(),
            ids=(),
            values=(),
            fix=f"the rule could not run ({error}); check it in the suite file",
        )
    details = result.result or {}
    indexed = details.get("partial_unexpected_index_list") or []
    positions = sorted({int(p) for p in indexed})[:SAMPLE_SIZE]
    rows, ids = _sample(frame, positions, id_field)
    values = [str(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
    count = int(details.get("unexpected_count") or (0 if indexed else 1))
    return RuleFailure(
        rule=config.type,
        column=", ".join(columns) if columns else None,
        severity=str(getattr(config.severity, "value", config.severity) or "critical"),
        count=max(count, len(rows), 1),
        rows=tuple(rows),
        ids=tuple(dict.fromkeys(ids)),
        values=() if config.type in _NO_VALUES else tuple(v[:60] for v in dict.fromkeys(values)),
        fix=str((config.meta or {}).get("fix", "correct the export")),
        text=(config.meta or {}).get("describe"),
    )


def _sample(
    frame: pd.DataFrame, positions: list[int], id_field: str
) -> tuple[list[int], list[str]]:
    """Spreadsheet rows and ids of the first failing positions."""
    import pandas as pd

    rows = [int(r) for r in frame[ROW_COLUMN].to_numpy()[positions]]
    ids: list[str] = []
    if positions and id_field in frame.columns:
        ids = [str(v)[:60] for v in frame[id_field].to_numpy()[positions] if pd.notna(v)]
    return rows, ids


def _known_id_failure(
    expectation: dict[str, Any], known: Set[str], frame: pd.DataFrame, id_field: str
) -> RuleFailure | None:
    """expect_column_values_to_be_in_set against another kind's ids, with GE's meaning:
    missing values are not judged."""
    import numpy as np

    column = expectation["kwargs"]["column"]
    values = frame[column]
    unknown = values.notna() & ~is_in(values, known)
    count = int(unknown.sum())
    if count == 0:
        return None
    positions = [int(p) for p in np.flatnonzero(unknown.to_numpy())[:SAMPLE_SIZE]]
    rows, ids = _sample(frame, positions, id_field)
    sample = [str(v)[:60] for v in dict.fromkeys(values.to_numpy()[positions])]
    return RuleFailure(
        rule=expectation["type"],
        column=column,
        severity=str(expectation.get("severity") or "critical"),
        count=count,
        rows=tuple(rows),
        ids=tuple(dict.fromkeys(ids)),
        values=tuple(sample),
        fix=str((expectation.get("meta") or {}).get("fix", "correct the export")),
        text=f"not a known {expectation['meta']['known_ids_of']} id",
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
    frame: pd.DataFrame,
    kind: str,
    *,
    cell_problems: tuple[CellProblem, ...] = (),
    as_of: date | None = None,
    known_ids: Mapping[str, Set[str]] | None = None,
    suites: Sequence[Path] = (SUITES_DIR,),
) -> ValidationOutcome:
    """Validate a parsed batch (with its `_row` column) against its kind's suite.

    `as_of` (default today) bounds how far in the future dates may lie; `known_ids` gives
    the ids of other kinds that cross-kind rules check against."""
    id_field = kind_named(kind).id_field
    frame = _for_ge(frame)
    prepared = _prepared(
        load_suite(kind, suites)["expectations"],
        frame,
        as_of=as_of or date.today(),
        known_ids=known_ids,
    )
    failures = [_type_failure(p) for p in cell_problems]
    for (columns, condition), rules in _by_columns(prepared.for_ge).items():
        # Each group runs on its own columns: GE copies the frame it filters per rule.
        part, group = _filtered(
            frame.iloc[:1] if not columns else frame[list(columns)], condition, rules
        )
        # The verdict alone first: on a million rows, GE gathering the failing rows and
        # values of rules that pass costs a third of the validation. Only a group with a
        # failure is run again for them.
        result = _run_suite(part, kind, group, detail=False)
        if not result.success:
            result = _run_suite(part, kind, group, detail=True)
            failures += [_failure(r, frame, id_field) for r in result.results if not r.success]
    for expectation, known in prepared.known_id_rules:
        if (failure := _known_id_failure(expectation, known, frame, id_field)) is not None:
            failures.append(failure)
    return ValidationOutcome(
        kind=kind, rows=len(frame), failures=tuple(failures), skipped=tuple(prepared.skipped)
    )


def _for_ge(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbered 0..n-1, dates as datetime64[ns]: GE 1.x compares other date units one
    value at a time in Python (pandas 3 reads dates as microseconds)."""
    import pandas as pd

    frame = frame.reset_index(drop=True)
    dates = [
        c
        for c in frame.columns
        if pd.api.types.is_datetime64_any_dtype(frame[c])
        and str(frame[c].dtype) != "datetime64[ns]"
    ]
    if dates:
        frame = frame.copy(deep=False)
        for column in dates:
            values = frame[column]
            low, high = values.min(), values.max()
            fits = pd.isna(low) or (
                pd.Timestamp.min <= low and high <= pd.Timestamp.max  # the ns range, 1677-2262
            )
            if fits:
                frame[column] = values.astype("datetime64[ns]")
    return frame


_Group = tuple[tuple[str, ...], str | None]  # the columns a group reads, its row condition


def _by_columns(expectations: list[dict[str, Any]]) -> dict[_Group, list[dict[str, Any]]]:
    """Rules grouped by the columns they read (with `_row`) and by their pandas row
    condition, which the group's rows are filtered by once (`_filtered`); column-existence
    rules need no rows at all."""
    groups: dict[_Group, list[dict[str, Any]]] = {}
    for expectation in expectations:
        kwargs = expectation["kwargs"]
        if expectation["type"] == "expect_column_to_exist":
            key: _Group = ((), None)
        else:
            columns = tuple(sorted(_needed_columns(kwargs) | {ROW_COLUMN}))
            pandas_condition = kwargs.get("condition_parser") == "pandas"
            key = (columns, kwargs.get("row_condition") if pandas_condition else None)
        groups.setdefault(key, []).append(expectation)
    return groups


def _filtered(
    part: pd.DataFrame, condition: str | None, group: list[dict[str, Any]]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The rows a pandas row condition selects, and its rules without the condition: GE
    filters by it with `DataFrame.query` for each metric it computes (six times a rule),
    the same query once gives the same rows, keeping their index (their positions in the
    batch), as GE's filter does."""
    if condition is None:
        return part, group
    unconditioned = []
    for expectation in group:
        kwargs = {
            k: v
            for k, v in expectation["kwargs"].items()
            if k not in ("row_condition", "condition_parser")
        }
        unconditioned.append({**expectation, "kwargs": kwargs})
    return part.query(condition, parser="pandas"), unconditioned
