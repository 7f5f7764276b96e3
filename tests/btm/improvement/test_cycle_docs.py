"""docs/cycle.md's worked priority examples hold for the shipped configuration."""

from pathlib import Path

import pytest

from btm.catalog import load_catalog
from btm.improvement.config import load_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "cycle.md"


@pytest.mark.parametrize(
    ("capability", "area", "gap", "dependents", "priority"),
    [("MTI-2", "MTI", 1.6, 2, 2.112), ("GO-1", "GO", 1.0, 16, 1.8)],
)
def test_the_documented_priority_examples_are_what_the_backlog_computes(
    capability: str, area: str, gap: float, dependents: int, priority: float
) -> None:
    config = load_config(catalog=load_catalog())
    assert config.dependents.get(capability, 0) == dependents
    assert config.priority(gap=gap, area=area, capability=capability) == priority
    assert f"**{priority:g}**" in DOC.read_text()
