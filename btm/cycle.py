"""One quarterly cycle, as plain functions: each is one arrow of the pipeline.

gather (btm.evidence.gather) -> assemble evidence -> metrics -> score -> report -> deliver.
The Prefect flow in `flows/` calls these in order as tasks; tests call them directly.
A cycle id names a fiscal quarter (`2026-Q1`, see btm.fiscal); its as-of date is the
quarter's last day.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
import sqlalchemy as sa

from btm import audiences, delivery, fiscal, improvement, reporting, store
from btm.catalog import Catalog
from btm.errors import BtmError, ConfigurationError, DeliveryError
from btm.evidence.gather import EvidencePlan, evidence_plan, quality_trend, source_notes
from btm.evidence.kinds import load_kinds
from btm.evidence.sources import Templating
from btm.metrics import UNIT, compute_metrics, survey_answers
from btm.reporting import BAND_COLOURS, RenderedReport
from btm.scoring import CellScore, Rubric, score_units
from btm.settings import Settings
from btm.targets import Targets, load_targets

if TYPE_CHECKING:  # matplotlib is imported where charts are drawn, not by every command
    from btm.charts import Chart

# cycle ids ----------------------------------------------------------------------------


def parse_cycle_id(cycle_id: str) -> tuple[int, int]:
    """The fiscal year and quarter of a cycle id; a malformed id is a ConfigurationError."""
    return fiscal.current().parse(cycle_id)


def cycle_as_of(cycle_id: str) -> date:
    """The last day of the cycle's quarter."""
    return fiscal.current().as_of(cycle_id)


def cycle_for(day: date) -> str:
    """The last quarter that ended before `day`: the cycle a run on that day assesses."""
    return fiscal.current().ended_before(day)


def cycle_containing(day: date) -> str:
    """The quarter that `day` falls in."""
    return fiscal.current().containing(day)


def cycle_start(cycle_id: str) -> date:
    """The first day of the cycle's quarter."""
    return fiscal.current().start(cycle_id)


def next_cycle_id(cycle_id: str) -> str:
    """The quarter after the cycle's."""
    return fiscal.current().next(cycle_id)


def templating(cycle_id: str, settings: Settings) -> Templating:
    """What a source's location, query and parameters may refer to, for this cycle."""
    return Templating(
        cycle=cycle_id,
        cycle_start=cycle_start(cycle_id),
        as_of=cycle_as_of(cycle_id),
        home=settings.resolved_home,
    )


# assemble the cycle's evidence --------------------------------------------------------


@dataclass(frozen=True)
class CycleEvidence:
    cycle_id: str
    plan: EvidencePlan
    frames: dict[str, pd.DataFrame]

    def hashes_by_unit(self) -> dict[str, list[str]]:
        """The hashes of the batches that carried each unit's rows."""
        hashes: dict[str, set[str]] = {}
        sha_of = {b.id: b.sha256 for b in self.plan.batches}
        for frame in self.frames.values():
            pairs = frame[["batch_id", UNIT]].dropna().drop_duplicates()
            for batch_id, unit in pairs.itertuples(index=False):
                hashes.setdefault(str(unit), set()).add(sha_of[int(batch_id)])
        return {unit: sorted(values) for unit, values in hashes.items()}

    def ages_by_unit(self) -> dict[str, dict[str, int]]:
        """Per unit and evidence kind, the age in days of the oldest batch behind it: 0
        for evidence gathered this cycle, the gap to its cycle for evidence carried
        forward."""
        as_of = cycle_as_of(self.cycle_id)
        age_of = {
            batch_id: (as_of - cycle_as_of(from_cycle)).days
            for batch_id, from_cycle in self.plan.carried.items()
        }
        ages: dict[str, dict[str, int]] = {}
        for kind, frame in self.frames.items():
            pairs = frame[["batch_id", UNIT]].dropna().drop_duplicates()
            for batch_id, unit in pairs.itertuples(index=False):
                by_kind = ages.setdefault(str(unit), {})
                by_kind[kind] = max(by_kind.get(kind, 0), age_of.get(int(batch_id), 0))
        return ages


def scores_are_current(
    *, engine: sa.Engine, cycle_id: str, plan: EvidencePlan, rubric: Rubric
) -> bool:
    """True when the cycle's original scoring was on exactly these batches under this
    rubric. A set rescored under another rubric does not make it current."""
    with store.session_scope(engine) as session:
        scored = session.get(store.Cycle, cycle_id)
    return (
        scored is not None
        and scored.completed_at is not None
        and scored.rubric_version == rubric.version
        and scored.evidence_key == plan.key(rubric.version)
    )


def assemble_evidence(
    *,
    engine: sa.Engine,
    cycle_id: str,
    plan: EvidencePlan | None = None,
    fresh: dict[int, pd.DataFrame] | None = None,
) -> CycleEvidence:
    """Load the planned batches per kind; frames parsed in this run are not read again."""
    fresh = fresh or {}
    plan = plan or evidence_plan(engine=engine, cycle_id=cycle_id)
    frames: dict[str, pd.DataFrame] = {}
    for kind in load_kinds():
        ids = [b.id for b in plan.batches if b.kind == kind and b.id is not None]
        parts = [fresh[i].assign(batch_id=i) for i in ids if i in fresh]
        stored = [i for i in ids if i not in fresh]
        if stored:
            parts.append(store.load_rows(engine=engine, kind=kind, batch_ids=stored))
        if parts:
            frames[kind] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return CycleEvidence(cycle_id, plan, frames)


# score --------------------------------------------------------------------------------


def score_cycle(evidence: CycleEvidence, *, rubric: Rubric, catalog: Catalog) -> list[CellScore]:
    metrics = compute_metrics(evidence.frames, as_of=cycle_as_of(evidence.cycle_id))
    return score_units(
        metrics,
        rubric=rubric,
        catalog=catalog,
        ages=evidence.ages_by_unit(),
        survey=survey_answers(evidence.frames.get("survey")),
    )


def is_original(scored: store.Cycle | None, rubric_version: str) -> bool:
    """Whether scoring the cycle under this rubric version is its original scoring: its
    first, or a later one under the same version. Any other is a rescore."""
    return scored is None or scored.rubric_version in (None, rubric_version)


def scoring_targets(
    *, engine: sa.Engine, cycle_id: str, rubric: Rubric, settings: Settings
) -> Targets:
    """The targets a scoring of the cycle measures gaps to. The original scoring takes
    BTM_TARGET_STATE; a rescore keeps the cycle's recorded target state, so that it differs
    from the original only by its rubric."""
    with store.session_scope(engine) as session:
        scored = session.get(store.Cycle, cycle_id)
    state = settings.target_state
    if scored is not None and scored.target_state and not is_original(scored, rubric.version):
        state = scored.target_state
    return load_targets(state=state, home=settings.resolved_home)


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
            store.Score(
                cycle_id=evidence.cycle_id,
                unit=s.unit,
                capability=s.capability,
                dimension=s.dimension,
                level=s.level,
                target_level=target,
                gap=None if s.level is None else target - s.level,
                rubric_version=rubric.version,
                trace=s.trace(),
                evidence_hashes=hashes.get(s.unit, []),
            )
        )
    with store.session_scope(engine) as session:
        count = store.replace_scores(
            session=session,
            cycle_id=evidence.cycle_id,
            rubric_version=rubric.version,
            scores=rows,
        )
        scored = session.get(store.Cycle, evidence.cycle_id)
        if is_original(scored, rubric.version):
            store.complete_cycle(
                session=session,
                cycle_id=evidence.cycle_id,
                rubric_version=rubric.version,
                evidence_key=evidence.plan.key(rubric.version),
                target_state=targets.state,
            )
        elif scored is not None and scored.target_state is None:
            # scored before targets existed: its rescores name the state they measure to
            store.record_target_state(
                session=session, cycle_id=evidence.cycle_id, target_state=targets.state
            )
    return count


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


def rescore_cycle(
    *,
    engine: sa.Engine,
    cycle_id: str,
    rubric: Rubric,
    catalog: Catalog,
    settings: Settings,
    force: bool = False,
) -> Rescore:
    """Score a cycle's stored evidence again under `rubric`, as a set labelled with its
    version beside the original. Nothing is gathered, rendered or delivered. Under the
    original's own version this would replace the original: refused unless `force`."""
    parse_cycle_id(cycle_id)
    with store.session_scope(engine) as session:
        scored = session.get(store.Cycle, cycle_id)
        versions = store.rubric_versions(session=session, cycle_id=cycle_id)
    if scored is None or scored.rubric_version is None:
        raise BtmError(
            f"cycle {cycle_id} has not been scored yet; run `btm run --cycle {cycle_id}` first"
        )
    original = scored.rubric_version
    if rubric.version == original and not force:
        raise BtmError(
            f"{cycle_id} was first scored under rubric {original}, the current rubric's "
            "version: rescoring would replace its original scores. Give the changed rubric "
            "a new version to keep both, or pass --force to replace them"
        )
    plan = evidence_plan(engine=engine, cycle_id=cycle_id)
    evidence = assemble_evidence(engine=engine, cycle_id=cycle_id, plan=plan)
    scores = score_cycle(evidence, rubric=rubric, catalog=catalog)
    targets = scoring_targets(engine=engine, cycle_id=cycle_id, rubric=rubric, settings=settings)
    count = save_scores(scores, engine=engine, evidence=evidence, rubric=rubric, targets=targets)
    return Rescore(cycle_id, rubric.version, original, count, rubric.version in versions)


# report and deliver -------------------------------------------------------------------


def render_cycle_report(
    *,
    engine: sa.Engine,
    cycle_id: str,
    catalog: Catalog,
    rubric: Rubric,
    settings: Settings | None = None,
) -> RenderedReport:
    """Render the trend report of a scored cycle from what the database holds."""
    return reporting.render_report(
        report_context(
            engine=engine, cycle_id=cycle_id, catalog=catalog, rubric=rubric, settings=settings
        )
    )


def report_context(
    *,
    engine: sa.Engine,
    cycle_id: str,
    catalog: Catalog,
    rubric: Rubric,
    settings: Settings | None = None,
) -> reporting.ReportContext:
    """The trend report's plain values for a scored cycle, from what the database holds."""
    plan = evidence_plan(engine=engine, cycle_id=cycle_id)
    with store.session_scope(engine) as session:
        # the cycle's original scores, labelled with their own rubric: a cycle re-run
        # under a newer rubric keeps its original, its new set beside it
        scored = session.get(store.Cycle, cycle_id)
        shown_version = (scored.rubric_version if scored else None) or rubric.version
        current = store.scores_frame(store.get_scores(session=session, cycle_id=cycle_id))
        previous_cycle = store.previous_cycle(session=session, cycle_id=cycle_id)
        previous = (
            store.scores_frame(store.get_scores(session=session, cycle_id=previous_cycle.id))
            if previous_cycle
            else None
        )
    return reporting.build_report_context(
        catalog=catalog,
        cycle_id=cycle_id,
        previous_cycle_id=previous_cycle.id if previous_cycle else None,
        scores=current,
        previous_scores=previous,
        quarantined=plan.quarantined,
        stale=plan.stale,
        rubric_version=shown_version,
        generated_at=datetime.now().replace(microsecond=0),
        sources=source_notes(engine=engine, now=store.utcnow()),
        quality=quality_trend(engine=engine, up_to_cycle=cycle_id),
        warnings=plan.warnings,
        cycle_months=fiscal.current().months(cycle_id),
        improvement=improvement.report_section(
            engine=engine, cycle_id=cycle_id, catalog=catalog, settings=settings or Settings()
        ),
    )


def dispatch(
    message: EmailMessage,
    *,
    settings: Settings,
    name: str,
    smtp: delivery.SmtpConfig | Literal["settings"] | None = "settings",
) -> tuple[str, str]:
    """Send through SMTP when it is configured (BTM_SMTP_* or BTM_SMTP_BLOCK), retrying
    transient failures with backoff, else keep the message in the outbox as `<name>.eml`;
    returns the channel and where the message went. A caller sending many messages reads
    the SMTP configuration once and passes it as `smtp`."""
    config = delivery.smtp_config(settings) if smtp == "settings" else smtp
    if config is not None:
        delivery.send_with_retry(message, config)
        return "smtp", config.address
    path = delivery.write_to_outbox(message, outbox_dir=settings.outbox_dir, name=name)
    return "outbox", str(path)


def failure_alert(
    *, flow_name: str, run_name: str, state: str, detail: str, link: str, settings: Settings
) -> EmailMessage | None:
    """The ops team's email for a failed flow run; None when no ops address is set."""
    if not settings.ops_email:
        return None
    message = EmailMessage()
    message["Subject"] = f"BTM flow run {run_name} ({flow_name}): {state}"
    message["From"] = settings.report_from
    message["To"] = settings.ops_email
    message.set_content(
        f"The flow run {run_name} of {flow_name} ended {state}.\n\n"
        f"{detail}\n\nOpen it in Prefect: {link}\n"
    )
    return message


# audiences: render each one's report, keep it standalone, deliver it ---------------------


@dataclass(frozen=True)
class AudienceReport:
    audience: audiences.Audience
    view: audiences.AudienceView
    email: RenderedReport  # charts by Content-ID
    standalone: RenderedReport  # the same content, charts inline, with every rule's trace


def _charts(view: audiences.AudienceView, catalog: Catalog) -> tuple[Chart, ...]:
    """The charts an audience's template shows: trends, the heatmap's legend, or the
    unit against the others."""
    from btm import charts

    kind = view.audience.kind
    made: list[Chart] = []
    if kind in ("pmo", "executive"):
        series = {"Enterprise": [p.enterprise for p in view.history]}
        for n, area in enumerate(catalog.areas):
            series[area.name] = [p.areas[n] for p in view.history]
        target = view.targets[0].target_text if view.targets else "unknown"
        made.append(
            charts.trend_chart(
                [p.cycle_id for p in view.history],
                series,
                target=None if target == "unknown" else float(target),
                title="Maturity level by cycle",
            )
        )
    if kind in ("pmo", "area_owner"):
        made.append(
            charts.legend_chart(
                [(e.label, BAND_COLOURS[e.band], e.range_text) for e in view.report.legend]
            )
        )
    if kind == "business_unit":
        made.append(
            charts.comparison_chart(
                [
                    charts.ComparisonRow(r.label, r.value, r.reference, r.low, r.high)
                    for r in view.areas_compared
                ],
                title=f"{view.audience.unit} against the enterprise, by area",
            )
        )
    return tuple(made)


def standalone_path(settings: Settings, cycle_id: str, audience_id: str) -> Path:
    return settings.reports_dir / cycle_id / f"{audience_id}.html"


def report_url(settings: Settings, cycle_id: str, audience_id: str) -> str | None:
    if not settings.report_base_url:
        return None
    return f"{settings.report_base_url.rstrip('/')}/{cycle_id}/{audience_id}.html"


def render_audience_reports(
    *,
    engine: sa.Engine,
    cycle_id: str,
    catalog: Catalog,
    rubric: Rubric,
    settings: Settings,
    only: str | None = None,
) -> list[AudienceReport]:
    """Every configured audience's report of a scored cycle (or the one named `only`)."""
    chosen = audiences.load_audiences(settings, catalog)
    if only is not None:
        chosen = [a for a in chosen if a.id == only]
        if not chosen:
            known = ", ".join(a.id for a in audiences.load_audiences(settings, catalog))
            raise ConfigurationError(f"no audience {only!r}; the audiences are: {known}")
    context = report_context(
        engine=engine, cycle_id=cycle_id, catalog=catalog, rubric=rubric, settings=settings
    )
    with store.session_scope(engine) as session:
        scores = store.get_scores(session=session, cycle_id=cycle_id)
        history = audiences.level_history(
            [
                (c, store.get_scores(session=session, cycle_id=c))
                for c in store.cycle_ids(session=session, up_to=cycle_id)
            ],
            catalog,
        )
    reports = []
    for audience in chosen:
        view = audiences.build_view(
            audience, report=context, scores=scores, history=history, catalog=catalog
        )
        images = _charts(view, catalog)
        url = report_url(settings, cycle_id, audience.id)
        reports.append(
            AudienceReport(
                audience,
                view,
                _render_view(view, images, standalone=False, url=url),
                _render_view(view, images, standalone=True, url=url),
            )
        )
    return reports


def _render_view(
    view: audiences.AudienceView, images: Sequence[Chart], *, standalone: bool, url: str | None
) -> RenderedReport:
    template = "email" if view.audience.kind == "pmo" else view.audience.kind
    return reporting.render_templates(
        f"{template}.html.j2",
        f"{template}.txt.j2",
        subject=view.subject,
        report=view.report,
        view=view,
        images=images,
        standalone=standalone,
        report_url=url,
    )


@dataclass(frozen=True)
class AudienceDelivery:
    audience: str
    report_path: Path
    sent: tuple[str, ...]
    skipped: tuple[str, ...]  # delivered before: the ledger has them
    failed: tuple[str, ...]  # "address: why"
    channel: str
    locations: tuple[str, ...]


@dataclass(frozen=True)
class DeliveryReport:
    cycle_id: str
    index_path: Path
    audiences: tuple[AudienceDelivery, ...]
    dry_run: bool = False

    @property
    def report_path(self) -> Path:
        return self.audiences[0].report_path

    @property
    def location(self) -> str | None:
        """Where the first message went (the outbox file or the SMTP server), or None
        when nothing was sent."""
        return next((loc for d in self.audiences for loc in d.locations), None)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(f for d in self.audiences for f in d.failed)

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(f"{d.audience}/{r}" for d in self.audiences for r in d.skipped)


def write_reports(reports: Sequence[AudienceReport], *, cycle_id: str, settings: Settings) -> Path:
    """Keep each audience's standalone report and rewrite the index of every report."""
    for report in reports:
        reporting.write_file_atomically(
            standalone_path(settings, cycle_id, report.audience.id),
            report.standalone.html.encode("utf-8"),
        )
    return reporting.write_index(settings.reports_dir)


def deliver_cycle_reports(
    reports: Sequence[AudienceReport],
    *,
    engine: sa.Engine,
    cycle_id: str,
    settings: Settings,
    dry_run: bool = False,
) -> DeliveryReport:
    """Keep the standalone reports, then send each audience's email to each recipient
    the ledger has not recorded yet: one message and one ledger row per recipient, so a
    retried task or a re-run flow never sends a report twice. A send that fails after
    its retries is reported, not recorded, and the others go on. `dry_run` renders and
    keeps the files but sends and records nothing."""
    index = write_reports(reports, cycle_id=cycle_id, settings=settings)
    outcomes = []
    for report in reports:
        audience = report.audience
        with store.session_scope(engine) as session:
            pending = [
                r
                for r in audience.recipients
                if store.find_delivery(
                    session=session, cycle_id=cycle_id, audience=audience.id, recipient=r
                )
                is None
            ]
        skipped = tuple(r for r in audience.recipients if r not in pending)
        sent, failed, locations, channel = [], [], [], "none"
        smtp = None if dry_run or not pending else delivery.smtp_config(settings)
        for recipient in [] if dry_run else pending:
            message = delivery.build_message(
                report.email, sender=settings.report_from, recipients=[recipient]
            )
            try:
                channel, location = dispatch(
                    message,
                    settings=settings,
                    name=f"{cycle_id}-{audience.id}-{_slug(recipient)}",
                    smtp=smtp,
                )
            except DeliveryError as exc:
                failed.append(f"{recipient}: {exc}")
                continue
            with store.session_scope(engine) as session:
                store.record_delivery(
                    session=session,
                    delivery=store.Delivery(
                        cycle_id=cycle_id,
                        audience=audience.id,
                        recipient=recipient,
                        channel=channel,
                        location=location,
                    ),
                )
            sent.append(recipient)
            locations.append(location)
        outcomes.append(
            AudienceDelivery(
                audience=audience.id,
                report_path=standalone_path(settings, cycle_id, audience.id),
                sent=tuple(sent),
                skipped=skipped,
                failed=tuple(failed),
                channel=channel,
                locations=tuple(locations),
            )
        )
    return DeliveryReport(cycle_id, index, tuple(outcomes), dry_run)


def _slug(address: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", address.lower()).strip("-")
