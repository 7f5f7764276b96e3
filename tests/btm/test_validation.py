from pathlib import Path

import pandas as pd

from btm.evidence.files import archive_file, coerce, parse_file
from btm.evidence.kinds import kind_named
from btm.validation import validate_frame
from tests.factories import rows, write_csv


def _validate(kind: str, records: list[dict[str, str]]):
    parsed = coerce(pd.DataFrame(records), kind_named(kind))
    return validate_frame(parsed.frame, kind, cell_problems=parsed.problems)


def test_a_clean_batch_is_accepted() -> None:
    assert _validate("projects", rows("projects", 5)).accepted
    assert _validate("investments", rows("investments", 5)).accepted


def test_duplicate_ids_are_refused_with_rows_and_ids() -> None:
    records = rows("projects", 4)
    records[3]["project_id"] = records[1]["project_id"]
    outcome = _validate("projects", records)
    assert not outcome.accepted
    (failure,) = outcome.failures
    assert failure.rule == "expect_column_values_to_be_unique"
    assert failure.rows == (3, 5) and failure.ids == ("PRJ-2",)
    assert "column project_id" in failure.sentence() and "rows 3, 5" in failure.sentence()


def test_unknown_status_negative_amount_and_end_before_start_are_each_named() -> None:
    records = rows("projects", 4)
    records[0]["status"] = "in progress"
    records[1]["budget"] = "-10"
    records[2]["planned_end"] = "2025-01-01"
    outcome = _validate("projects", records)
    by_column = {f.column: f for f in outcome.failures}
    assert by_column["status"].rows == (2,) and by_column["status"].ids == ("PRJ-1",)
    assert by_column["budget"].rows == (3,)
    assert by_column["planned_end, planned_start"].rows == (4,)
    assert not outcome.accepted


def test_a_missing_required_column_is_reported_once() -> None:
    records = [{k: v for k, v in r.items() if k != "status"} for r in rows("investments", 2)]
    outcome = _validate("investments", records)
    assert [(f.rule, f.column) for f in outcome.failures] == [("expect_column_to_exist", "status")]
    assert "add the column 'status'" in outcome.sentences()[0]


def test_missing_optional_columns_are_accepted() -> None:
    records = [
        {k: v for k, v in r.items() if k not in ("health", "forecast_end")}
        for r in rows("projects", 2)
    ]
    assert _validate("projects", records).accepted


def test_text_in_a_number_fails_the_batch(tmp_path: Path) -> None:
    records = rows("investments", 2)
    records[1]["budget"] = "1.000,00 EUR"
    parsed = parse_file(
        archive_file(write_csv(tmp_path / "investments.csv", records), archive_dir=tmp_path / "a")
    )
    outcome = validate_frame(parsed.frame, "investments", cell_problems=parsed.problems)
    assert not outcome.accepted
    assert any("column budget" in s and "row 3" in s for s in outcome.sentences())
