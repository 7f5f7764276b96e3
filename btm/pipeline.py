"""The pipeline's arrows, each written once: gather -> validate -> store -> plan -> score
-> save -> render -> deliver, as plain functions over a `Setup`.

A door (a `btm` command, a flow run, a test) reads the settings once and builds one
`Setup`: the settings, the database, the catalogue, the rubric and the fiscal calendar,
with the PMO's copies from BTM_HOME where there are any, and the secret readers the door
can offer. Every arrow is handed that setup; nothing is read from the environment below
this point. The flows wrap each arrow in a task and add retries, timeouts, concurrency
and artifacts; `run_cycle` chains them without Prefect, as the tests and the benchmark do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.errors import BtmError
from btm.evidence.gather import (
    BatchResult,
    CycleEvidence,
    EvidencePlan,
    FetchOutcome,
    accept_fetch,
    assemble_evidence,
    evidence_plan,
    fetch_source,
    in_validation_order,
    record_failure,
)
from btm.evidence.sources import BlockLoader, Source, Templating
from btm.fiscal import FiscalCalendar
from btm.resources import data_file, suite_dirs, template_dirs
from btm.settings import Settings, load_settings
from btm.timing import stage

if TYPE_CHECKING:
    import pandas as pd

    from btm.delivery import DeliveryReport, SmtpBlockLoader
    from btm.improvement.progress import Progress
    from btm.reporting.compose import AudienceReport
    from btm.scoring.engine import CellScore
    from btm.scoring.rubric import Rubric
    from btm.targets import Targets

OPENER = "btm"  # who opens a cycle gathered outside a flow run


class Setup:
    """What a door reads once and hands to every arrow. The database, catalogue and
    rubric are opened on first use, so a command that needs none of them pays for none."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: sa.Engine | None = None,
        rubric: Rubric | None = None,
        read_secret_block: BlockLoader | None = None,
        read_smtp_block: SmtpBlockLoader | None = None,
    ) -> None:
        self.settings = settings
        self.read_secret_block = read_secret_block  # Prefect Secret blocks, from flows/
        self.read_smtp_block = read_smtp_block  # Prefect EmailServerCredentials, from flows/
        if engine is not None:
            self.engine = engine
        if rubric is not None:
            self.rubric = rubric

    @cached_property
    def engine(self) -> sa.Engine:
        return store.engine_for(self.settings.effective_database_url)

    @property
    def catalog(self) -> Catalog:
        return self.settings.catalog

    @cached_property
    def rubric(self) -> Rubric:
        from btm.scoring.rubric import load_rubric

        return load_rubric(data_file("rubric.yaml", self.home), self.catalog)

    @property
    def calendar(self) -> FiscalCalendar:
        return self.settings.calendar

    @property
    def home(self) -> Path:
        return self.settings.resolved_home

    @property
    def suites(self) -> tuple[Path, ...]:
        return suite_dirs(self.home)

    @property
    def templates(self) -> tuple[Path, ...]:
        return template_dirs(self.home)


def setup(settings: Settings | None = None, **readers: Any) -> Setup:
    """The setup of a door: the settings from the environment unless given."""
    return Setup(settings or load_settings(), **readers)


# gather -> validate -> store --------------------------------------------------------------


def templating_for(
    cycle_id: str, settings: Settings, read_block: BlockLoader | None = None
) -> Templating:
    """What a source's location, query and parameters may refer to, for this cycle."""
    calendar = settings.calendar
    return Templating(
        cycle=cycle_id,
        cycle_start=calendar.start(cycle_id),
        as_of=calendar.as_of(cycle_id),
        home=settings.resolved_home,
        read_block=read_block,
    )


def open_cycle(run: Setup, cycle_id: str, *, actor: str = OPENER) -> None:
    """The cycle opens in assess when its evidence is first gathered."""
    store.ensure_cycle(
        engine=run.engine, cycle_id=cycle_id, as_of=run.calendar.as_of(cycle_id), actor=actor
    )


def fetch(run: Setup, source: Source, cycle_id: str, *, full: bool = False) -> FetchOutcome:
    """One source's payloads, archived by sha256 before anything reads them. An API
    source fetches only what changed since its last accepted fetch in the cycle, merged
    onto that fetch's snapshot, unless `full` (or its `fetch: full`) asks for everything."""
    templating = templating_for(cycle_id, run.settings, run.read_secret_block)
    return fetch_source(
        source,
        templating=templating,
        archive_dir=run.settings.archive_dir,
        engine=run.engine,
        full=full,
    )


def record_fetch_failure(run: Setup, source: Source, cycle_id: str, error: str) -> None:
    """A source that could not be fetched: recorded, and its last evidence goes stale."""
    record_failure(engine=run.engine, cycle_id=cycle_id, source=source, error=error)


def validation_order(run: Setup, fetched: Sequence[FetchOutcome]) -> list[FetchOutcome]:
    return in_validation_order(fetched, run.suites)


def accept(run: Setup, fetched: FetchOutcome, cycle_id: str, *, force: bool) -> list[BatchResult]:
    """Validate one fetch's payloads and store each as accepted or quarantined."""
    return accept_fetch(
        fetched,
        cycle_id=cycle_id,
        as_of=run.calendar.as_of(cycle_id),
        engine=run.engine,
        quarantine_dir=run.settings.quarantine_dir,
        force=force,
        suites=run.suites,
        limits=run.settings.read_limits,
    )


def gather(
    run: Setup, cycle_id: str, sources: Sequence[Source], *, force: bool = False
) -> list[BatchResult]:
    """Open the cycle, fetch every source in turn (a failed one is recorded and the others
    go on), then validate and store what came back, referenced kinds first. `force`
    re-reads every payload and fetches every API source in full, as the flow does."""
    open_cycle(run, cycle_id)
    fetched = []
    for source in sources:
        try:
            fetched.append(fetch(run, source, cycle_id, full=force))
        except BtmError as exc:
            record_fetch_failure(run, source, cycle_id, str(exc))
    return [
        result
        for outcome in validation_order(run, fetched)
        for result in accept(run, outcome, cycle_id, force=force)
    ]


def fresh_frames(results: Sequence[BatchResult]) -> dict[int, pd.DataFrame]:
    """The frames parsed in this run, by batch id, so scoring does not read them again."""
    return {r.batch.id: r.frame for r in results if r.frame is not None and r.batch.id is not None}


# plan -> score -> save ------------------------------------------------------------------


def plan(run: Setup, cycle_id: str) -> EvidencePlan:
    """The batches the cycle is scored on: this cycle's accepted ones, the rest carried."""
    with stage("plan"):
        return evidence_plan(engine=run.engine, cycle_id=cycle_id)


def scores_are_current(
    *, engine: sa.Engine, cycle_id: str, plan: EvidencePlan, rubric: Rubric
) -> bool:
    """True when the cycle's original scoring was on exactly these batches under this
    rubric. A set rescored under another rubric does not make it current."""
    scored = store.find_cycle(engine=engine, cycle_id=cycle_id)
    return (
        scored is not None
        and scored.completed_at is not None
        and scored.rubric_version == rubric.version
        and scored.evidence_key == plan.key(rubric.version)
    )


def needs_scoring(run: Setup, cycle_id: str, evidence: EvidencePlan, *, force: bool) -> bool:
    return force or not scores_are_current(
        engine=run.engine, cycle_id=cycle_id, plan=evidence, rubric=run.rubric
    )


def score_cycle(
    evidence: CycleEvidence,
    *,
    rubric: Rubric,
    catalog: Catalog,
    history: dict[str, dict[str, list[float | None]]] | None = None,
) -> list[CellScore]:
    """Every unit's cells on the cycle's evidence; `history` holds the metrics' values in
    the earlier cycles, for the rules on history (level 5)."""
    from btm.metrics import compute_metrics
    from btm.scoring.engine import score_units
    from btm.scoring.survey import survey_answers

    with stage("metrics"):
        metrics = compute_metrics(
            evidence.frames, as_of=evidence.as_of, policy=rubric.metric_policy
        )
    with stage("score"):
        answers = survey_answers(
            evidence.frames.get("survey"),
            as_of=evidence.as_of,
            max_age_days=rubric.survey.max_age_days,
            batch_ages=evidence.batch_ages(),
        )
        return score_units(
            metrics,
            rubric=rubric,
            catalog=catalog,
            ages=evidence.ages_by_unit(),
            survey=answers,
            history=history,
        )


def scoring_targets(run: Setup, cycle_id: str) -> Targets:
    """The targets a scoring of the cycle measures gaps to. The original scoring takes
    BTM_TARGET_STATE; a rescore keeps the cycle's recorded target state, so that it differs
    from the original only by its rubric."""
    from btm.targets import load_targets

    scored = store.find_cycle(engine=run.engine, cycle_id=cycle_id)
    state = run.settings.target_state
    if (
        scored is not None
        and scored.target_state
        and not store.is_original(scored, run.rubric.version)
    ):
        state = scored.target_state
    return load_targets(state=state, home=run.home, catalog=run.catalog)


def save_scores(
    scores: list[CellScore],
    *,
    engine: sa.Engine,
    evidence: CycleEvidence,
    rubric: Rubric,
    targets: Targets,
) -> int:
    """Store the scores, each with its target level and gap (target - level), as the
    cycle's set under the rubric's version, replacing only an earlier set under that same
    version. An original scoring records its rubric, evidence key and target state on the
    cycle; a rescore leaves the cycle's record as it is."""
    hashes = evidence.hashes_by_unit()
    rows = []
    for s in scores:
        target = targets.level(s.unit, s.capability)
        rows.append(
            {
                "cycle_id": evidence.cycle_id,
                "unit": s.unit,
                "capability": s.capability,
                "dimension": s.dimension,
                "level": s.level,
                "target_level": target,
                "gap": None if s.level is None else target - s.level,
                "basis": s.basis,
                "confidence": s.confidence,
                "says": s.says,
                "stale": s.stale,
                "rubric_version": rubric.version,
                "trace": s.trace(),
                "evidence_hashes": hashes.get(s.unit, []),
            }
        )
    return store.save_cycle_scores(
        engine=engine,
        cycle_id=evidence.cycle_id,
        rubric_version=rubric.version,
        scores=rows,
        evidence_key=evidence.plan.key(rubric.version),
        target_state=targets.state,
    )


def score(
    run: Setup,
    cycle_id: str,
    *,
    planned: EvidencePlan | None = None,
    fresh: dict[int, pd.DataFrame] | None = None,
) -> int:
    """Assemble the planned evidence, score every unit, measure the gaps to target and
    save the cycle's set: the one scoring sequence, for a run and a rescore alike."""
    planned = planned or plan(run, cycle_id)
    with stage("plan"):
        evidence = assemble_evidence(
            engine=run.engine,
            cycle_id=cycle_id,
            calendar=run.calendar,
            plan=planned,
            fresh=fresh,
        )
        history = store.metric_history(
            engine=run.engine,
            cycle_id=cycle_id,
            rubric_version=run.rubric.version,
            cycles=run.rubric.history_cycles,
        )
    scores = score_cycle(evidence, rubric=run.rubric, catalog=run.catalog, history=history)
    with stage("save"):
        targets = scoring_targets(run, cycle_id)
        return save_scores(
            scores, engine=run.engine, evidence=evidence, rubric=run.rubric, targets=targets
        )


@dataclass(frozen=True)
class Rescore:
    cycle_id: str
    rubric_version: str
    original_rubric_version: str
    scores: int
    replaced: bool  # an earlier set under this rubric version was replaced

    @property
    def summary(self) -> str:
        if self.rubric_version == self.original_rubric_version:
            return (
                f"{self.cycle_id} rescored under rubric {self.rubric_version}, "
                "replacing its original scores (--force)"
            )
        again = f"; the earlier {self.rubric_version} set replaced" if self.replaced else ""
        return (
            f"{self.cycle_id} rescored under rubric {self.rubric_version} "
            f"(original: {self.original_rubric_version} kept{again})"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def rescore(run: Setup, cycle_id: str, *, force: bool = False) -> Rescore:
    """Score a cycle's stored evidence again under the setup's rubric, as a set labelled
    with its version beside the original. Nothing is gathered, rendered or delivered.
    Under the original's own version this would replace the original: refused unless
    `force`."""
    run.calendar.parse(cycle_id)
    scored = store.find_cycle(engine=run.engine, cycle_id=cycle_id)
    versions = store.rubric_versions_of(engine=run.engine, cycle_id=cycle_id)
    if scored is None or scored.rubric_version is None:
        raise BtmError(
            f"cycle {cycle_id} has not been scored yet; run `btm run --cycle {cycle_id}` first"
        )
    original, version = scored.rubric_version, run.rubric.version
    if version == original and not force:
        raise BtmError(
            f"{cycle_id} was first scored under rubric {original}, the current rubric's "
            "version: rescoring would replace its original scores. Give the changed rubric "
            "a new version to keep both, or pass --force to replace them"
        )
    count = score(run, cycle_id)
    return Rescore(cycle_id, version, original, count, version in versions)


# phases -> render -> deliver ------------------------------------------------------------


def move_phases(run: Setup, cycle_id: str, *, actor: str) -> Progress:
    """The scored cycle goes to design with its proposed backlog; a cycle that was
    executing is improved and closed. The PMO's approval gate is never passed here."""
    from btm.improvement.progress import after_assessment

    return after_assessment(
        engine=run.engine,
        cycle_id=cycle_id,
        catalog=run.catalog,
        settings=run.settings,
        actor=actor,
    )


def render(run: Setup, cycle_id: str, *, only: str | None = None) -> list[AudienceReport]:
    """Every configured audience's report of a scored cycle (or the one named `only`)."""
    from btm.reporting.compose import render_audience_reports

    return render_audience_reports(
        engine=run.engine,
        cycle_id=cycle_id,
        catalog=run.catalog,
        rubric=run.rubric,
        settings=run.settings,
        templates=run.templates,
        only=only,
    )


def deliver(
    run: Setup, reports: Sequence[AudienceReport], cycle_id: str, *, dry_run: bool = False
) -> DeliveryReport:
    """Keep the standalone reports, then email each recipient the ledger has not served."""
    from btm.delivery import deliver_cycle_reports, smtp_config

    return deliver_cycle_reports(
        reports,
        engine=run.engine,
        cycle_id=cycle_id,
        settings=run.settings,
        templates=run.templates,
        smtp=lambda: smtp_config(run.settings, run.read_smtp_block),
        dry_run=dry_run,
    )


# the whole cycle, without Prefect ---------------------------------------------------------


@dataclass(frozen=True)
class CycleRun:
    """What one reassessment did, as `btm run` prints it and the flow returns it."""

    cycle_id: str
    scores: int | None  # None: the evidence was unchanged and the scores kept
    plan: EvidencePlan
    delivered: DeliveryReport
    progress: Progress
    results: tuple[BatchResult, ...] = field(default=())

    def to_json(self, settings: Settings) -> dict[str, Any]:
        return {
            "cycle": self.cycle_id,
            "scores": self.scores,
            "rescored": self.scores is not None,
            "quarantined": [n.source for n in self.plan.quarantined],
            "stale": [n.source for n in self.plan.stale],
            "report": str(self.delivered.report_path),
            "reports": str(self.delivered.index_path),
            "delivery": self.delivered.location,
            "sent": {d.audience: list(d.sent) for d in self.delivered.audiences},
            "possibly_twice": list(self.delivered.possibly_twice),
            "phases": self.progress.lines(settings),
        }


def run_cycle(
    run: Setup,
    cycle_id: str,
    sources: Sequence[Source],
    *,
    actor: str,
    force: bool = False,
    dry_run: bool = False,
) -> CycleRun:
    """One reassessment from the sources to the delivered reports, in the order the
    quarterly-cycle flow runs its tasks; `actor` is who the phases record as moving
    the cycle."""
    results = gather(run, cycle_id, sources, force=force)
    evidence = plan(run, cycle_id)
    scored = None
    if needs_scoring(run, cycle_id, evidence, force=force):
        scored = score(run, cycle_id, planned=evidence, fresh=fresh_frames(results))
    progress = move_phases(run, cycle_id, actor=actor)
    delivered = deliver(run, render(run, cycle_id), cycle_id, dry_run=dry_run)
    return CycleRun(cycle_id, scored, evidence, delivered, progress, tuple(results))
