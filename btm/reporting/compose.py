"""A scored cycle's reports from what the store holds: the report context, then each
audience's view, charts, email and standalone copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.errors import ConfigurationError
from btm.evidence.gather import evidence_plan, quality_trend, source_notes
from btm.improvement.section import report_section
from btm.reporting import audiences
from btm.reporting.context import ReportContext, build_report_context
from btm.reporting.render import (
    RenderedReport,
    band_colours,
    render_report,
    render_templates,
    write_file_atomically,
    write_index,
)
from btm.reporting.roadmap import cycle_roadmap
from btm.reporting.self_assessment import SHOWN_TO
from btm.resources import TEMPLATES_DIR
from btm.scoring.rubric import Rubric
from btm.settings import Settings
from btm.survey.responses import CampaignStatus, campaign_status

if TYPE_CHECKING:  # matplotlib is imported where charts are drawn, not by every command
    from btm.readiness import StateReadiness
    from btm.reporting.charts import Chart


def report_context(
    *,
    engine: sa.Engine,
    cycle_id: str,
    catalog: Catalog,
    rubric: Rubric,
    settings: Settings,
) -> ReportContext:
    """The trend report's plain values for a scored cycle, from what the database holds."""
    plan = evidence_plan(engine=engine, cycle_id=cycle_id)
    # the cycle's original scores, labelled with their own rubric: a cycle re-run under a
    # newer rubric keeps its original, its new set beside it
    scored = store.find_cycle(engine=engine, cycle_id=cycle_id)
    shown_version = (scored.rubric_version if scored else None) or rubric.version
    current = store.scores_frame(store.scores_of(engine=engine, cycle_id=cycle_id))
    previous_cycle = store.previous_scored_cycle(engine=engine, cycle_id=cycle_id)
    previous = (
        store.scores_frame(store.scores_of(engine=engine, cycle_id=previous_cycle.id))
        if previous_cycle
        else None
    )
    return build_report_context(
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
        cycle_months=settings.calendar.months(cycle_id),
        improvement=report_section(
            engine=engine, cycle_id=cycle_id, catalog=catalog, settings=settings
        ),
        low_below=rubric.confidence.low_below,
    )


def cycle_campaign(*, engine: sa.Engine, cycle_id: str) -> CampaignStatus | None:
    """Who was invited to the cycle's self-assessment campaign and who answered; None
    when the cycle has no campaign."""
    if store.survey_campaign(engine=engine, cycle_id=cycle_id) is None:
        return None
    return campaign_status(engine, cycle_id)


def render_cycle_report(
    *,
    engine: sa.Engine,
    cycle_id: str,
    catalog: Catalog,
    rubric: Rubric,
    settings: Settings,
) -> RenderedReport:
    """Render the trend report of a scored cycle from what the database holds."""
    return render_report(
        report_context(
            engine=engine, cycle_id=cycle_id, catalog=catalog, rubric=rubric, settings=settings
        )
    )


@dataclass(frozen=True)
class AudienceReport:
    audience: audiences.Audience
    view: audiences.AudienceView
    email: RenderedReport  # charts by Content-ID
    standalone: RenderedReport  # the same content, charts inline, with every rule's trace


def _charts(
    view: audiences.AudienceView, catalog: Catalog, templates: Sequence[Path]
) -> tuple[Chart, ...]:
    """The charts an audience's template shows: trends, the heatmap's legend, the unit
    against the others, or the PMO's roadmap (none when it has no initiative)."""
    # matplotlib costs half a second to import: only a run that draws charts pays it
    from btm.reporting import charts

    kind = view.audience.kind
    made: list[Chart] = []
    if kind in ("pmo", "executive"):
        series = {"Enterprise": [p.enterprise for p in view.history]}
        for n, area in enumerate(catalog.areas):
            series[area.name] = [p.areas[n] for p in view.history]
        made.append(
            charts.trend_chart(
                [p.cycle_id for p in view.history],
                series,
                target=float(view.readiness.level) if view.readiness else None,
                title="Maturity level by cycle",
            )
        )
    if kind in ("pmo", "area_owner"):
        colours = band_colours(templates)
        made.append(
            charts.legend_chart(
                [(e.label, colours[e.band], e.range_text) for e in view.report.legend]
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
    if view.roadmap and view.roadmap.lines:
        made.append(
            charts.roadmap_chart(
                view.roadmap.quarters,
                [
                    charts.RoadmapBar(
                        line.label,
                        line.start,
                        line.end,
                        line.state,
                        overdue_from=line.overdue_from,
                        runs_on=line.runs_on,
                        tentative=line.tentative,
                    )
                    for line in view.roadmap.lines
                ],
                current=view.roadmap.cycle_id,
                title="Initiatives by quarter",
            )
        )
    return tuple(made)


def standalone_path(settings: Settings, cycle_id: str, audience_id: str) -> Path:
    return settings.reports_dir / cycle_id / f"{audience_id}.html"


def report_url(settings: Settings, cycle_id: str, audience_id: str) -> str | None:
    if not settings.report_base_url:
        return None
    return f"{settings.report_base_url.rstrip('/')}/{cycle_id}/{audience_id}.html"


def cycle_readiness(
    *,
    engine: sa.Engine,
    cycle_id: str,
    scores: Sequence[store.Score],
    catalog: Catalog,
    settings: Settings,
) -> StateReadiness:
    """The readiness of the cycle's scores for the target state they were scored against
    (the settings' state for a cycle scored before it was recorded)."""
    from btm.readiness import readiness
    from btm.targets import load_targets

    scored = store.find_cycle(engine=engine, cycle_id=cycle_id)
    state = catalog.state_id(
        (scored.target_state if scored else None) or settings.target_state,
        setting="BTM_TARGET_STATE",
    )
    home = settings.resolved_home
    targets = {s.id: load_targets(state=s.id, home=home, catalog=catalog) for s in catalog.states}
    return readiness(scores, catalog, state=state, targets=targets)


def render_audience_reports(
    *,
    engine: sa.Engine,
    cycle_id: str,
    catalog: Catalog,
    rubric: Rubric,
    settings: Settings,
    templates: Sequence[Path] = (TEMPLATES_DIR,),
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
    scores = store.scores_of(engine=engine, cycle_id=cycle_id)
    history = audiences.level_history(
        [
            (c, store.scores_of(engine=engine, cycle_id=c))
            for c in store.cycle_ids_up_to(engine=engine, up_to=cycle_id)
        ],
        catalog,
        low_below=context.low_below,
    )
    campaign = (
        cycle_campaign(engine=engine, cycle_id=cycle_id)
        if any(a.kind in SHOWN_TO for a in chosen)
        else None
    )
    ready = cycle_readiness(
        engine=engine, cycle_id=cycle_id, scores=scores, catalog=catalog, settings=settings
    )
    roadmap = (
        cycle_roadmap(engine=engine, cycle_id=cycle_id, calendar=settings.calendar)
        if any(a.kind == "pmo" for a in chosen)
        else None
    )
    reports = []
    for audience in chosen:
        view = audiences.build_view(
            audience,
            report=context,
            scores=scores,
            history=history,
            catalog=catalog,
            campaign=campaign,
            readiness=ready,
            roadmap=roadmap,
        )
        images = _charts(view, catalog, templates)
        url = report_url(settings, cycle_id, audience.id)
        reports.append(
            AudienceReport(
                audience,
                view,
                render_view(view, images, standalone=False, url=url, templates=templates),
                render_view(view, images, standalone=True, url=url, templates=templates),
            )
        )
    return reports


def render_view(
    view: audiences.AudienceView,
    images: Sequence[Chart] = (),
    *,
    standalone: bool = False,
    url: str | None = None,
    templates: Sequence[Path] = (TEMPLATES_DIR,),
) -> RenderedReport:
    """One audience's report in its templates: the email (charts by Content-ID) or the
    standalone copy, with every rule's trace."""
    template = "email" if view.audience.kind == "pmo" else view.audience.kind
    return render_templates(
        f"{template}.html.j2",
        f"{template}.txt.j2",
        subject=view.subject,
        report=view.report,
        view=view,
        images=images,
        standalone=standalone,
        report_url=url,
        templates=templates,
    )


def write_reports(
    reports: Sequence[AudienceReport],
    *,
    cycle_id: str,
    settings: Settings,
    templates: Sequence[Path] = (TEMPLATES_DIR,),
) -> Path:
    """Keep each audience's standalone report and rewrite the index of every report."""
    for report in reports:
        write_file_atomically(
            standalone_path(settings, cycle_id, report.audience.id),
            report.standalone.html.encode("utf-8"),
        )
    return write_index(settings.reports_dir, templates)


def write_previews(
    reports: Sequence[AudienceReport], *, cycle_id: str, settings: Settings
) -> list[tuple[AudienceReport, Path]]:
    """Each audience's standalone report in `BTM_HOME/reports/preview/<cycle>/`, apart
    from the delivered ones; nothing is sent or recorded."""
    folder = settings.reports_dir / "preview" / cycle_id
    written = []
    for report in reports:
        path = folder / f"{report.audience.id}.html"
        write_file_atomically(path, report.standalone.html.encode("utf-8"))
        written.append((report, path))
    return written
