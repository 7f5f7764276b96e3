"""The run summary the ops team reads in the Prefect UI carries the reports' marks."""

from btm.catalog import load_catalog
from flows.artifacts import run_summary_markdown
from tests.factories import report_context, score_frame

CATALOG = load_catalog()


def test_the_run_summary_marks_survey_based_levels_and_explains_the_marks() -> None:
    levels = {("Retail", "MTI-1", "process"): 2, ("Retail", "SP-3", "process"): 1}
    survey = {("Retail", "SP-3", "process"): "survey"}
    current = score_frame(CATALOG, ["Retail"], levels, basis=survey)
    text = run_summary_markdown(report_context(CATALOG, current, None))
    assert "enterprise level 1.5*" in text
    assert "| Retail | 1.5* |" in text and "2 of 68, 1 on systems" in text
    legend = next(e for e in report_context(CATALOG, current, None).marks_legend)
    assert f"{legend.mark} {legend.meaning}" in text
