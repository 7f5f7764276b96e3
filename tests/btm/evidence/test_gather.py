"""Gathering from configured sources: provenance, increments, staleness, the sources file."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import select

from btm import store
from btm.catalog import DATA_DIR
from btm.errors import ConfigurationError
from btm.evidence import gather
from btm.evidence.kinds import load_kinds
from btm.evidence.notes import SourceNote
from btm.evidence.sources import (
    FilesSource,
    JiraSource,
    SqlSource,
    default_sources,
    load_sources,
)
from btm.pipeline import scores_are_current, templating_for
from btm.scoring.rubric import load_rubric
from btm.settings import Settings
from tests.btm.evidence.test_jira import COLUMNS as JIRA_COLUMNS
from tests.factories import write_quarter
from tests.fake_apis import FakeJira, jira_issues
from tests.pipeline import cycle_as_of, run_cycle

JIRA_TOKEN = "jira-token-d41d8cd9"


@pytest.fixture
def settings(btm_home: Path) -> Settings:
    return Settings()


def _batches(engine: sa.Engine) -> list[store.EvidenceBatch]:
    with store.session_scope(engine) as session:
        return list(session.exec(select(store.EvidenceBatch)))


def _fetches(engine: sa.Engine) -> list[store.SourceFetch]:
    with store.session_scope(engine) as session:
        return store.all_fetches(session=session)


def _levels(engine: sa.Engine, cycle_id: str) -> dict[tuple[str, str, str], Any]:
    with store.session_scope(engine) as session:
        return {
            (s.unit, s.capability, s.dimension): (s.level, tuple(s.evidence_hashes))
            for s in store.get_scores(session=session, cycle_id=cycle_id)
        }


def test_an_unchanged_source_gathered_twice_is_one_batch(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    write_quarter(drop, case_share=0.6)

    run_cycle("2026-Q1", drop, engine, settings)
    run_cycle("2026-Q2", drop, engine, settings)

    batches = _batches(engine)
    assert len(batches) == 4 and {b.cycle_id for b in batches} == {"2026-Q1"}
    assert len([p for p in settings.archive_dir.rglob("*.csv")]) == 4
    fetched = [(f.cycle_id, f.part) for f in _fetches(engine) if f.part]
    assert len(fetched) == 8 and {c for c, _ in fetched} == {"2026-Q1", "2026-Q2"}
    plan = gather.evidence_plan(engine=engine, cycle_id="2026-Q2")
    assert len(plan.batches) == 4 and plan.stale == [] and plan.quarantined == []


def test_a_changed_file_is_a_new_batch_and_the_cycle_rescored(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    write_quarter(drop, case_share=0.5)
    run_cycle("2026-Q1", drop, engine, settings)
    before = _levels(engine, "2026-Q1")

    write_quarter(drop, case_share=0.95)  # same files, new content
    run_cycle("2026-Q1", drop, engine, settings)

    assert len(_batches(engine)) == 6  # two investment files changed, projects did not
    after = _levels(engine, "2026-Q1")
    assert after[("Retail", "MTI-1", "process")][0] > before[("Retail", "MTI-1", "process")][0]


def test_unchanged_evidence_keeps_the_scores_until_forced_or_the_rubric_changes(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.6)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    plan = gather.evidence_plan(engine=engine, cycle_id="2026-Q1")
    rubric = load_rubric()

    assert scores_are_current(engine=engine, cycle_id="2026-Q1", plan=plan, rubric=rubric)
    newer = dataclasses.replace(rubric, version="2027.2")
    assert not scores_are_current(engine=engine, cycle_id="2026-Q1", plan=plan, rubric=newer)

    run_cycle("2026-Q1", tmp_path / "q1", engine, settings, force=True)
    batches = _batches(engine)
    assert len(batches) == 4  # forced validation reads the same batches again
    fetched = [f for f in _fetches(engine) if f.part]
    assert len(fetched) == 8


def test_a_quarantined_file_falls_back_until_a_corrected_one_arrives(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    write_quarter(drop, case_share=0.6)
    run_cycle("2026-Q1", drop, engine, settings)
    write_quarter(drop, case_share=0.6, bad_projects=True)

    run_cycle("2026-Q2", drop, engine, settings)

    plan = gather.evidence_plan(engine=engine, cycle_id="2026-Q2")
    assert [n.source for n in plan.quarantined] == ["projects/projects-wealth.csv"]
    (stale,) = plan.stale
    assert (stale.source, stale.from_cycle) == ("projects/projects-wealth.csv", "2026-Q1")
    assert stale.reason == "its new batch was quarantined"
    parts = sorted(b.part for b in plan.batches)
    assert parts == [
        f"{k}-{u}.csv" for k in ("investments", "projects") for u in ("retail", "wealth")
    ]

    write_quarter(drop, case_share=0.6)  # the PMO puts the corrected export back
    run_cycle("2026-Q2", drop, engine, settings)

    plan = gather.evidence_plan(engine=engine, cycle_id="2026-Q2")
    assert plan.stale == [] and plan.quarantined == []
    problems = settings.quarantine_dir / "2026-Q2" / "projects" / "projects-wealth.csv.problems.txt"
    assert "column budget" in problems.read_text()  # the explanation is kept


def _ppm(path: Path, frame: pd.DataFrame) -> str:
    url = f"sqlite:///{path}"
    frame.to_sql("ppm_projects", sa.create_engine(url), index=False, if_exists="replace")
    return url


def _sql_source(location: str) -> SqlSource:
    return SqlSource(
        connector="sql",
        name="ppm",
        kind="projects",
        location=location,
        query="SELECT * FROM ppm_projects WHERE business_unit = :unit",
        params={"unit": "Wealth"},
    )


def test_an_unreachable_source_scores_on_its_last_accepted_evidence_marked_stale(
    engine: sa.Engine, settings: Settings, tmp_path: Path, free_tcp_port: int
) -> None:
    write_quarter(tmp_path / "q", case_share=0.6)
    projects = pd.read_csv(tmp_path / "q" / "projects-wealth.csv")
    files = FilesSource(
        connector="files",
        name="investment-exports",
        kind="investments",
        location=str(tmp_path / "q"),
        pattern="investments-*",
    )
    reachable = _sql_source(_ppm(tmp_path / "ppm.sqlite", projects))
    run_cycle("2026-Q1", None, engine, settings, sources=[files, reachable])
    q1 = _levels(engine, "2026-Q1")

    down = _sql_source(f"postgresql+psycopg://btm@127.0.0.1:{free_tcp_port}/ppm")
    run_cycle("2026-Q2", None, engine, settings, sources=[files, down])

    plan = gather.evidence_plan(engine=engine, cycle_id="2026-Q2")
    (stale,) = plan.stale
    assert stale.source == "ppm/ppm.csv" and stale.from_cycle == "2026-Q1"
    assert "could not be reached" in stale.reason and "127.0.0.1" in stale.reason
    q2 = _levels(engine, "2026-Q2")
    assert q2[("Wealth", "MTI-4", "process")] == q1[("Wealth", "MTI-4", "process")]
    notes = {n.source: n for n in gather.source_notes(engine=engine, now=store.utcnow())}
    assert not notes["ppm"].reachable and notes["ppm"].rows == len(projects)
    assert notes["ppm"].last_success is not None
    assert notes["investment-exports"].reachable and notes["investment-exports"].rows == 40


def test_a_jira_source_gathers_mapped_projects(
    engine: sa.Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIRA_TOKEN", JIRA_TOKEN)
    issues = jira_issues(120)
    with FakeJira(issues, api="cloud", token=JIRA_TOKEN, user="pmo@acme.example") as jira:
        source = JiraSource.model_validate(
            {
                "connector": "jira",
                "name": "jira",
                "kind": "projects",
                "location": jira.url,
                "jql": "project = PRJ",
                "auth": {
                    "type": "basic",
                    "user": "pmo@acme.example",
                    "token": {"env": "JIRA_TOKEN"},
                },
                "columns": JIRA_COLUMNS,
                "values": {
                    "status": {"new": "not_started", "indeterminate": "active", "done": "completed"}
                },
            }
        )
        templating = templating_for("2026-Q3", settings)
        fetched = gather.fetch_source(
            source, templating=templating, archive_dir=settings.archive_dir
        )
        with store.session_scope(engine) as session:
            store.open_cycle(session=session, cycle_id="2026-Q3", as_of=cycle_as_of("2026-Q3"))
        (result,) = gather.accept_fetch(
            fetched,
            cycle_id="2026-Q3",
            as_of=cycle_as_of("2026-Q3"),
            engine=engine,
            quarantine_dir=settings.quarantine_dir,
        )
    assert result.batch.status == "accepted", result.batch.problems
    assert result.batch.rows == 120 and result.batch.connector == "jira"
    assert result.frame is not None
    assert set(result.frame["status"]) <= {"not_started", "active", "completed"}
    assert result.frame["budget"].notna().all()


def test_a_source_that_brings_nothing_is_recorded_as_reached(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    run_cycle("2026-Q1", tmp_path / "empty", engine, settings)
    fetches = _fetches(engine)
    assert len(fetches) == len(default_sources(tmp_path)) and all(f.ok for f in fetches)
    assert gather.evidence_plan(engine=engine, cycle_id="2026-Q1").batches == []


# the sources file ---------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


GOOD = """
sources:
  - name: ppm
    kind: projects
    connector: sql
    location: postgresql+psycopg://btm@db.internal/ppm
    password: {env: PPM_PASSWORD}
    query: SELECT * FROM projects WHERE updated >= :since
    params: {since: "{cycle_start}"}
    columns: {proj_code: project_id}
    values: {status: {In Progress: active}}
  - name: jira
    kind: projects
    connector: jira
    location: https://acme.atlassian.net
    jql: project = PRJ
    auth: {type: basic, user: pmo@acme.example, token: {block: jira-token}}
"""


def test_a_sources_file_reads_every_connector(tmp_path: Path) -> None:
    sql, jira = load_sources(_write(tmp_path, GOOD))
    assert isinstance(sql, SqlSource) and sql.password is not None
    assert sql.password.describe() == "environment variable PPM_PASSWORD"
    assert isinstance(jira, JiraSource) and jira.api == "cloud" and jira.retries == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("connector: jira", "connector: ftp"), "source 'jira': connector must be"),
        (GOOD.replace("jql:", "jqll:"), "source 'jira', jqll: is not a setting"),
        (GOOD.replace("proj_code: project_id", "proj_code: project_key"), "'project_key' is not"),
        (GOOD.replace("name: jira", "name: ppm"), "repeated: ppm"),
        (GOOD.replace("name: ppm", "name: PPM Tool"), "lower-case letters"),
        (GOOD.replace("kind: projects", "kind: budget", 1), "unknown kind 'budget'"),
        (GOOD.replace("{env: PPM_PASSWORD}", "{env: A, block: b}"), "exactly one of env"),
        (GOOD.replace("type: basic, user: pmo@acme.example,", "type: basic,"), "needs user"),
    ],
)
def test_mistakes_in_the_sources_file_name_the_source_and_setting(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigurationError) as error:
        load_sources(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_secrets_are_read_when_fetched_and_a_missing_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    sql, _ = load_sources(_write(tmp_path, GOOD))
    assert isinstance(sql, SqlSource) and sql.password is not None
    monkeypatch.delenv("PPM_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="PPM_PASSWORD is not set"):
        sql.password.resolve()
    monkeypatch.setenv("PPM_PASSWORD", "s3cret")
    assert sql.password.resolve() == "s3cret"
    assert "s3cret" not in repr(sql)


def test_the_sources_file_in_btm_home_is_used_when_present(
    tmp_path: Path, settings: Settings
) -> None:
    home = settings.resolved_home
    default = gather.configured_sources(sources_file=None, home=home, inbox=tmp_path)
    assert [s.name for s in default] == list(load_kinds())
    assert all(isinstance(s, FilesSource) and s.pattern == f"{s.kind}*" for s in default)
    home.mkdir(parents=True, exist_ok=True)
    _write(home, GOOD)
    configured = gather.configured_sources(sources_file=None, home=home, inbox=tmp_path)
    assert [s.name for s in configured] == ["ppm", "jira"]


def test_placeholders_are_filled_and_unknown_ones_refused(settings: Settings) -> None:
    templating = templating_for("2026-Q2", settings)
    text = "{home}/inbox/{cycle} {cycle_start} {as_of}"
    assert templating.fill(text, source="s", setting="location") == (
        f"{settings.resolved_home}/inbox/2026-Q2 2026-04-01 2026-06-30"
    )
    with pytest.raises(ConfigurationError, match=r"source 's', query: unknown placeholder \{q\}"):
        templating.fill("{q}", source="s", setting="query")
    with pytest.raises(ConfigurationError, match=r"write a literal brace as \{\{"):
        templating.fill("SELECT '{}'::jsonb", source="s", setting="query")
    assert templating.fill("'{{}}'::jsonb", source="s", setting="query") == "'{}'::jsonb"


def test_source_ages_read_as_a_person_would() -> None:
    note = SourceNote
    base: dict[str, Any] = {
        "source": "s",
        "connector": "files",
        "last_attempt": store.utcnow(),
        "reachable": True,
        "error": None,
        "last_success": store.utcnow(),
        "rows": 1,
    }
    assert note(**base, age=timedelta(minutes=5)).age_text == "5 min"
    assert note(**base, age=timedelta(hours=30)).age_text == "30 h"
    assert note(**base, age=timedelta(days=9)).age_text == "9 days"
    assert note(**{**base, "last_success": None}, age=None).age_text == "never fetched"


def test_checking_sources_touches_nothing(tmp_path: Path, settings: Settings) -> None:
    write_quarter(tmp_path / "q", case_share=0.6)
    good = FilesSource(
        connector="files",
        name="files",
        kind="projects",
        location=str(tmp_path / "q"),
        pattern="projects-*",
    )
    missing = FilesSource(
        connector="files", name="gone", kind="projects", location=str(tmp_path / "nowhere")
    )
    templating = templating_for("2026-Q1", settings)
    ok, down = (gather.check_source(s, templating=templating) for s in (good, missing))
    assert (ok.reachable, ok.rows, ok.error) == (True, 20, None)
    assert not down.reachable and "does not exist" in (down.error or "")
    assert not settings.archive_dir.exists()


def test_every_example_in_the_sources_guide_is_a_valid_source(tmp_path: Path) -> None:
    guide = (Path(__file__).resolve().parents[3] / "docs" / "sources.md").read_text()
    examples = re.findall(r"```yaml\n(.*?)```", guide, flags=re.S)
    assert len(examples) == 9
    text = "sources:\n" + "".join(textwrap.indent(e, "  ") for e in examples)
    loaded = load_sources(_write(tmp_path, text))
    assert [s.connector for s in loaded] == [
        *("files", "sql", "jira", "rest", "survey"),
        *("files", "sql", "rest", "files"),
    ]
    assert [s.kind for s in loaded][5:] == ["budgets", "resources", "vendors", "objectives"]
    demo = load_sources(DATA_DIR / "demo-sources.yaml")
    assert {s.connector for s in demo} == {"files", "sql"}


def test_a_secret_block_needs_the_flows_to_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from btm.evidence import sources

    with pytest.raises(ConfigurationError, match="only the flows can read"):
        sources.SecretRef(block="jira-token").resolve()
    read_block = lambda name: f"value of {name}"  # noqa: E731
    assert sources.SecretRef(block="jira-token").resolve(read_block) == "value of jira-token"
