"""The sample evidence reads like four quarterly exports of one portfolio, with the quirks
and the one broken file the pipeline must handle."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from btm.errors import ConfigurationError
from btm.evidence.sample import (
    BAD_SAMPLE,
    DEMO_CYCLES,
    SAMPLE_UNITS,
    generate_sample_evidence,
)

INVESTMENT_COLUMNS = [
    "investment_id",
    "business_unit",
    "name",
    "category",
    "status",
    "approval_date",
    "budget",
    "actual_spend",
    "business_case",
    "expected_benefit",
    "realized_benefit",
    "strategic_objective",
    "sponsor",
    "decision_body",
]
PROJECT_COLUMNS = [
    "project_id",
    "investment_id",
    "business_unit",
    "name",
    "status",
    "health",
    "planned_start",
    "planned_end",
    "forecast_end",
    "actual_end",
    "budget",
    "actual_cost",
    "percent_complete",
    "last_status_update",
    "architecture_reviewed",
]
AS_OF = {"2025-Q4": "2025-12-31", "2026-Q1": "2026-03-31", "2026-Q2": "2026-06-30"}
AS_OF["2026-Q3"] = "2026-09-30"
TRUE_SPELLINGS = {"true", "yes", "y", "1"}
FALSE_SPELLINGS = {"false", "no", "n", "0"}
DECIDED = ("approved", "active", "closed")


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("sample")
    generate_sample_evidence(out_dir)
    return out_dir


def read(path: Path) -> pd.DataFrame:
    """Read an export the way the file connector must: sniff the delimiter, drop a BOM."""
    return pd.read_csv(
        path, sep=None, engine="python", encoding="utf-8-sig", dtype=str, keep_default_na=False
    )


def good_files(sample_dir: Path, kind: str) -> Iterator[tuple[str, str, pd.DataFrame]]:
    for cycle in DEMO_CYCLES:
        for unit in SAMPLE_UNITS:
            name = f"{kind}-{unit.slug}.csv"
            if (cycle, name) != BAD_SAMPLE:
                yield cycle, unit.slug, read(sample_dir / cycle / name)


def is_true(values: pd.Series) -> pd.Series:
    return values.str.lower().isin(TRUE_SPELLINGS)


def business_case_share(sample_dir: Path, cycle: str, slug: str) -> float:
    investments = read(sample_dir / cycle / f"investments-{slug}.csv")
    decided = investments[investments["status"].isin(DECIDED)]
    return float(is_true(decided["business_case"]).mean())


def test_every_unit_kind_and_cycle_is_written(tmp_path: Path) -> None:
    written = generate_sample_evidence(tmp_path)
    expected = sorted(
        tmp_path / cycle / f"{kind}-{unit.slug}.csv"
        for cycle in DEMO_CYCLES
        for unit in SAMPLE_UNITS
        for kind in ("investments", "projects")
    )
    assert written == expected
    assert all(path.is_file() for path in written)
    assert len(written) == 40


def test_headers_are_exactly_the_canonical_fields(sample_dir: Path) -> None:
    for _, _, frame in good_files(sample_dir, "investments"):
        assert list(frame.columns) == INVESTMENT_COLUMNS
    for _, _, frame in good_files(sample_dir, "projects"):
        assert list(frame.columns) == PROJECT_COLUMNS
    bad = read(sample_dir.joinpath(*BAD_SAMPLE))
    assert list(bad.columns) == PROJECT_COLUMNS


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first = generate_sample_evidence(tmp_path / "a")
    second = generate_sample_evidence(tmp_path / "b")
    other = generate_sample_evidence(tmp_path / "c", seed=7)
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert any(a.read_bytes() != c.read_bytes() for a, c in zip(first, other, strict=True))


def test_investments_keep_the_contract(sample_dir: Path) -> None:
    names = {unit.slug: unit.name for unit in SAMPLE_UNITS}
    for cycle, slug, frame in good_files(sample_dir, "investments"):
        assert 30 <= len(frame) <= 60
        assert frame["investment_id"].is_unique
        assert set(frame["business_unit"]) == {names[slug]}
        assert set(frame["category"]) <= {"run", "grow", "transform"}
        assert set(frame["status"]) <= {"proposed", "approved", "rejected", "active", "closed"}
        approved = frame["approval_date"] != ""
        assert (approved == frame["status"].isin(DECIDED)).all()
        assert (frame.loc[approved, "approval_date"] <= AS_OF[cycle]).all()
        for column in ("budget", "actual_spend"):
            assert (frame[column].str.fullmatch(r"\d+\.\d{2}")).all()
        for column in ("expected_benefit", "realized_benefit"):
            assert (frame[column].str.fullmatch(r"(\d+\.\d{2})?")).all()


def test_projects_keep_the_contract(sample_dir: Path) -> None:
    for cycle, slug, frame in good_files(sample_dir, "projects"):
        assert 40 <= len(frame) <= 90
        assert frame["project_id"].is_unique
        status = frame["status"]
        assert set(status) <= {"not_started", "active", "on_hold", "completed", "cancelled"}
        assert set(frame["health"]) <= {"green", "amber", "red", ""}
        assert (frame["planned_end"] >= frame["planned_start"]).all()
        completed = frame[status == "completed"]
        assert (completed["actual_end"] != "").all()
        assert (completed["percent_complete"] == "100").all()
        assert (frame.loc[status != "completed", "actual_end"] == "").all()
        percent = frame["percent_complete"].astype(float)
        assert percent.between(0, 100).all()
        for column in ("actual_end", "last_status_update"):
            dates = frame.loc[frame[column] != "", column]
            assert (dates <= AS_OF[cycle]).all()
        assert (frame["budget"].str.fullmatch(r"\d+\.\d{2}")).all()
        assert (frame["actual_cost"].str.fullmatch(r"\d+\.\d{2}")).all()
        investments = read(sample_dir / cycle / f"investments-{slug}.csv")
        linked = frame.loc[frame["investment_id"] != "", "investment_id"]
        assert set(linked) <= set(investments["investment_id"])


def test_each_unit_spells_booleans_its_own_way(sample_dir: Path) -> None:
    spellings: dict[str, set[str]] = {}
    for _, slug, frame in good_files(sample_dir, "projects"):
        spellings.setdefault(slug, set()).update(frame["architecture_reviewed"])
    for _, slug, frame in good_files(sample_dir, "investments"):
        spellings.setdefault(slug, set()).update(frame["business_case"])
    for unit in SAMPLE_UNITS:
        assert spellings[unit.slug] == {unit.dialect.true, unit.dialect.false}
    assert set().union(*spellings.values()) <= {
        s for v in TRUE_SPELLINGS | FALSE_SPELLINGS for s in (v, v.upper())
    }
    assert len({unit.dialect.true for unit in SAMPLE_UNITS}) >= 4


def test_wealth_exports_have_a_bom_and_semicolons(sample_dir: Path) -> None:
    raw = (sample_dir / "2026-Q1" / "investments-wealth.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfinvestment_id;business_unit;")
    retail = (sample_dir / "2026-Q1" / "investments-retail.csv").read_bytes()
    assert retail.startswith(b"investment_id,business_unit,")


def test_names_with_commas_quotes_and_newlines_survive_a_round_trip(sample_dir: Path) -> None:
    names = pd.concat(
        frame["name"]
        for kind in ("investments", "projects")
        for _, _, frame in good_files(sample_dir, kind)
    )
    assert names.str.contains("\n").any()
    assert names.str.contains(",").any()
    assert names.str.contains('"').any()
    assert (names != "").all()
    # Every unit's first export carries the hardest quoting.
    for unit in SAMPLE_UNITS:
        first = read(sample_dir / DEMO_CYCLES[0] / f"investments-{unit.slug}.csv")
        assert first["name"].str.contains("\n").any()


def test_the_bad_file_has_one_negative_budget_and_one_duplicate_id(sample_dir: Path) -> None:
    bad = read(sample_dir.joinpath(*BAD_SAMPLE))
    budgets = bad["budget"].astype(float)
    assert (budgets < 0).sum() == 1
    counts = bad["project_id"].value_counts()
    assert (counts == 2).sum() == 1
    assert (counts > 2).sum() == 0
    assert (bad["actual_cost"].astype(float) >= 0).all()


def test_the_portfolio_carries_over_and_statuses_only_move_forward(sample_dir: Path) -> None:
    rank = {"proposed": 0, "rejected": 1, "approved": 1, "active": 2, "closed": 3}
    for unit in SAMPLE_UNITS:
        frames = [
            read(sample_dir / cycle / f"investments-{unit.slug}.csv").set_index("investment_id")
            for cycle in DEMO_CYCLES
        ]
        for before, after in itertools.pairwise(frames):
            shared = before.index.intersection(after.index)
            assert len(shared) >= 0.5 * len(before)
            assert len(after.index.difference(before.index)) >= 1
            moved = pd.DataFrame(
                {"before": before.loc[shared, "status"], "after": after.loc[shared, "status"]}
            )
            assert (moved["before"].map(rank) <= moved["after"].map(rank)).all()
            rejected = moved["after"] == "rejected"
            assert moved.loc[rejected, "before"].isin(["proposed", "rejected"]).all()


def test_maturity_moves_the_business_case_share(sample_dir: Path) -> None:
    first, last = DEMO_CYCLES[0], DEMO_CYCLES[-1]
    for improving in ("retail", "commercial"):
        assert business_case_share(sample_dir, last, improving) > business_case_share(
            sample_dir, first, improving
        )
    assert business_case_share(sample_dir, last, "insurance") < business_case_share(
        sample_dir, first, "insurance"
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trends_hold_for_other_seeds(tmp_path: Path, seed: int) -> None:
    cycles = (DEMO_CYCLES[0], DEMO_CYCLES[-1])
    generate_sample_evidence(tmp_path, cycles=cycles, seed=seed)
    commercial = [business_case_share(tmp_path, cycle, "commercial") for cycle in cycles]
    insurance = [business_case_share(tmp_path, cycle, "insurance") for cycle in cycles]
    assert commercial[1] > commercial[0]
    assert insurance[1] < insurance[0]


def test_a_malformed_cycle_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="YYYY-Qn"):
        generate_sample_evidence(Path("unused"), cycles=["2026Q1"])
