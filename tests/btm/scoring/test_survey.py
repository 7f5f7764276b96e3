"""Survey answers are aged like any evidence: an old answer is left out, whatever it says."""

from datetime import date

import pandas as pd

from btm.scoring.survey import Answers, says, survey_answers

AS_OF = date(2026, 9, 30)


def answers(*rows: tuple[str, float, str | None], batch_id: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "business_unit": unit,
                "capability": "SP-3",
                "dimension": "process",
                "score": score,
                "answered_on": pd.Timestamp(day) if day else pd.NaT,
                "batch_id": batch_id,
            }
            for unit, score, day in rows
        ]
    )


def test_answers_older_than_the_survey_allows_are_left_out() -> None:
    frame = answers(
        ("A", 5, "2024-04-14"),  # 900 days before the as-of date
        ("A", 5, "2024-04-14"),
        ("B", 4, "2026-09-01"),
        ("B", 2, "2026-08-01"),
    )
    found = survey_answers(frame, as_of=AS_OF, max_age_days=200)
    assert "A" not in found  # a 900-day-old survey gives nothing
    assert found["B"][("SP-3", "process")] == Answers(3.0, 2, 60)


def test_an_undated_answer_takes_its_batch_age() -> None:
    frame = answers(("A", 4, None), ("A", 4, None), batch_id=7)
    assert survey_answers(frame, as_of=AS_OF, max_age_days=200, batch_ages={7: 365}) == {}
    kept = survey_answers(frame, as_of=AS_OF, max_age_days=200, batch_ages={7: 92})
    assert kept["A"][("SP-3", "process")] == Answers(4.0, 2, 92)


def test_what_a_unit_says_is_its_median_rounded_half_up() -> None:
    assert [says(m) for m in (2.5, 3.49, 4.0, 1.5)] == [3, 3, 4, 2]
