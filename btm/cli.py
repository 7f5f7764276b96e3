"""The `btm` command: a thin door onto `btm/` and the flows.

Every command that prints data has a `--json` form. Mistakes in input or settings end
with one red line naming what to fix and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
import webbrowser
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import pandas as pd
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from btm import cycle, improvement, store
from btm.catalog import DATA_DIR, load_catalog
from btm.errors import BtmError
from btm.evidence.gather import source_notes
from btm.evidence.sources import Source, load_sources
from btm.reporting import SourceNote
from btm.settings import Settings

app = typer.Typer(
    help="BTM maturity pipeline: gather evidence, score the 17 capabilities, report trends.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


def friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a BtmError into one clear line and exit code 1."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except BtmError as exc:
            errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _run_cycle(
    cycle_id: str,
    *,
    inbox: Path | None = None,
    sources: Path | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    # The flow is imported here so that `btm status` never pays Prefect's start-up cost.
    from flows.quarterly_cycle import quarterly_cycle

    return quarterly_cycle(
        cycle_id=cycle_id,
        inbox=str(inbox) if inbox else None,
        sources_file=str(sources) if sources else None,
        force=force,
        dry_run=dry_run,
    )


DEMO_SOURCES = DATA_DIR / "demo-sources.yaml"
DEMO_AUDIENCES = DATA_DIR / "demo-audiences.yaml"


@app.command()
@friendly
def demo() -> None:
    """Generate the sample enterprise's evidence and run the cycle for each of its quarters.

    The sample is gathered through `btm/data/demo-sources.yaml`: drop folders of CSV, JSON
    and XLSX files, and a SQL database read with a bound query."""
    from btm.cycle import cycle_as_of
    from btm.evidence.sample import DEMO_CYCLES, generate_sample_evidence
    from flows.evidence_refresh import evidence_refresh
    from flows.initiative_pulse import initiative_pulse

    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    generate_sample_evidence(settings.inbox_dir, cycles=DEMO_CYCLES)
    audiences_file = settings.resolved_home / "audiences.yaml"
    if settings.audiences_file is None and not audiences_file.exists():
        audiences_file.write_text(DEMO_AUDIENCES.read_text(encoding="utf-8"), encoding="utf-8")
    console.print(f"sample evidence for {', '.join(DEMO_CYCLES)} in {settings.inbox_dir}")
    results = []
    for n, cycle_id in enumerate(DEMO_CYCLES):
        if n:
            # the quarter's weekly refreshes and monthly pulses, in one of each
            evidence_refresh(cycle_id=cycle_id, sources_file=str(DEMO_SOURCES))
            pulsed = initiative_pulse(as_of=cycle_as_of(cycle_id).isoformat())
            states = ", ".join(f"{k} {s}" for s, k in pulsed["states"].items())
            console.print(f"  pulse {pulsed['as_of']}: {states or 'nothing executing'}")
        result = _run_cycle(cycle_id, sources=DEMO_SOURCES)
        results.append(result)
        scored = (
            f"{result['scores']} scores"
            if result["rescored"]
            else "evidence unchanged, scores kept"
        )
        quarantined = ", ".join(result["quarantined"]) or "none"
        console.print(
            f"[bold]{cycle_id}[/bold]: {scored}; quarantined: {quarantined}; "
            f"email: {result['delivery'] or 'already delivered'}"
        )
        for line in result["phases"]:
            console.print(f"  {line}")
        if n < len(DEMO_CYCLES) - 1:
            console.print(f"  {_demo_review(engine, cycle_id, settings)}")
    last = results[-1]
    console.print(f"\nreports: {last['reports']}")
    console.print(f"emails: {settings.outbox_dir}")
    console.print("phases: btm status   backlog: btm initiatives list   history: btm cycle history")


def _demo_review(engine: sa.Engine, cycle_id: str, settings: Settings) -> str:
    """The PMO's part of the demo: export the backlog, link projects, import, approve.
    A cycle already past design (a second demo run) is left as it is."""
    from btm.cycle import cycle_as_of
    from btm.evidence.sample import review_backlog

    with store.session_scope(engine) as session:
        phase = improvement.phase_of(session=session, cycle_id=cycle_id)
    if phase is None or phase.phase != "design":
        return f"{cycle_id}: {phase.phase if phase else 'not opened'}, already reviewed"
    path = settings.resolved_home / "reviews" / f"{cycle_id}-backlog.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    improvement.export_backlog(engine=engine, cycle_id=cycle_id, path=path)
    _, projects = improvement.latest_projects(engine=engine, as_of=cycle_as_of(cycle_id))
    active = projects.loc[projects["status"] == "active", "project_id"].astype(str).tolist()
    review_backlog(path, active_projects=active)
    catalog = load_catalog()
    imported = improvement.import_backlog(
        engine=engine, cycle_id=cycle_id, path=path, catalog=catalog, settings=settings
    )
    change = improvement.advance(
        engine=engine,
        cycle_id=cycle_id,
        actor="demo PMO",
        reason=f"backlog reviewed in {path.name}: {imported.summary}",
        catalog=catalog,
        settings=settings,
    )
    return f"{cycle_id}: backlog reviewed ({imported.summary}) and approved: {change.phase}"


SourcesOption = Annotated[
    Path | None,
    typer.Option(
        "--sources", help="Sources file (default: BTM_HOME/sources.yaml, else the inbox folder)"
    ),
]


@app.command()
@friendly
def run(
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Quarter, e.g. 2026-Q1")] = None,
    inbox: Annotated[
        Path | None, typer.Option(help="Drop folder to read when there is no sources file")
    ] = None,
    sources: SourcesOption = None,
    force: Annotated[
        bool, typer.Option(help="Validate unchanged batches again and rescore")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render every audience's report, send nothing")
    ] = False,
) -> None:
    """Run the quarterly cycle once (by default for the last quarter that ended)."""
    from btm.cycle import cycle_for, parse_cycle_id

    cycle_id = cycle_id or cycle_for(date.today())
    parse_cycle_id(cycle_id)  # a malformed id is refused before Prefect starts
    if sources is not None:
        load_sources(sources)  # so is a broken sources file
    result = _run_cycle(cycle_id, inbox=inbox, sources=sources, force=force, dry_run=dry_run)
    console.print_json(json.dumps(result))


@app.command()
@friendly
def sample(
    out: Annotated[Path, typer.Argument(help="Folder to write the sample exports into")],
) -> None:
    """Write the sample enterprise's evidence exports, one folder per quarter."""
    from btm.evidence.sample import generate_sample_evidence

    paths = generate_sample_evidence(out)
    console.print(f"{len(paths)} files written under {out}")


def _scored_cycle(cycle_id: str | None) -> tuple[sa.Engine, store.Cycle]:
    """The given cycle, or the latest scored one, with its database."""
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    with store.session_scope(engine) as session:
        chosen = (
            session.get(store.Cycle, cycle_id) if cycle_id else store.latest_cycle(session=session)
        )
    if chosen is None:
        raise BtmError(
            f"no scored cycle {cycle_id or ''} in {settings.effective_database_url}; "
            "run `btm demo` or `btm run` first".replace("  ", " ")
        )
    return engine, chosen


@app.command()
@friendly
def status(
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Cycle to show")] = None,
    rubric: Annotated[
        str | None,
        typer.Option(
            "--rubric", help="Show the set rescored under this rubric version (default: original)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show the latest cycle's maturity levels (unit x capability x dimension)."""
    engine, cycle = _scored_cycle(cycle_id)
    with store.session_scope(engine) as session:
        versions = store.rubric_versions(session=session, cycle_id=cycle.id)
        if rubric is not None and rubric not in versions:
            raise BtmError(
                f"cycle {cycle.id} has no scores under rubric {rubric}; it was scored under "
                f"{', '.join(versions) or 'none'}: pass one of those to --rubric, or run "
                f"`btm rescore --cycle {cycle.id}` to score it under the current rubric"
            )
        shown = rubric or cycle.rubric_version
        scores = store.get_scores(session=session, cycle_id=cycle.id, rubric_version=shown)
    sources = source_notes(engine=engine, now=store.utcnow())
    phases = improvement.phase_statuses(engine=engine, settings=Settings())
    if as_json:
        payload = {
            "cycle": cycle.id,
            "as_of": cycle.as_of.isoformat(),
            "rubric_version": shown,
            "original_rubric_version": cycle.rubric_version,
            "rubric_versions": versions,
            "target_state": cycle.target_state,
            "scores": [
                {
                    "unit": s.unit,
                    "capability": s.capability,
                    "dimension": s.dimension,
                    "level": s.level,
                    "target_level": s.target_level,
                    "gap": s.gap,
                }
                for s in scores
            ],
            "sources": [
                {
                    "source": n.source,
                    "connector": n.connector,
                    "reachable": n.reachable,
                    "error": n.error,
                    "last_success": n.last_success.isoformat() if n.last_success else None,
                    "age_seconds": n.age.total_seconds() if n.age else None,
                    "rows": n.rows,
                }
                for n in sources
            ],
            "phases": [p.to_json() for p in phases],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    original = cycle.rubric_version or ""
    if shown == original:
        title = f"BTM maturity, cycle {cycle.id} (rubric {original})"
    else:
        title = f"BTM maturity, cycle {cycle.id} rescored under {shown} (original: {original})"
    if cycle.target_state:
        title += f", target: {cycle.target_state}"
    _print_table(title, scores)
    others = [v for v in versions if v != shown]
    if others:
        console.print(
            f"also scored under rubric {', '.join(others)}: "
            f"btm status --cycle {cycle.id} --rubric VERSION"
        )
    _print_sources(sources)
    _print_phases(phases)


@app.command()
@friendly
def rescore(
    cycle_id: Annotated[str, typer.Option("--cycle", help="The scored cycle, e.g. 2026-Q1")],
    force: Annotated[
        bool,
        typer.Option(help="Replace the original scores when the rubric's version is unchanged"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Rescore a cycle's stored evidence under the current rubric, as a set labelled with
    the rubric's version; the original scores are kept. Nothing is gathered or sent."""
    from btm.cycle import rescore_cycle
    from btm.scoring import load_rubric

    settings = Settings()
    outcome = rescore_cycle(
        engine=store.engine_for(settings.effective_database_url),
        cycle_id=cycle_id,
        rubric=load_rubric(),
        catalog=load_catalog(),
        settings=settings,
        force=force,
    )
    if as_json:
        sys.stdout.write(json.dumps({**asdict(outcome), "summary": outcome.summary}) + "\n")
        return
    console.print(outcome.summary, markup=False)
    console.print(
        f"levels: btm status --cycle {cycle_id} --rubric {outcome.rubric_version}", markup=False
    )


def _print_sources(notes: list[SourceNote]) -> None:
    table = Table(title="Evidence sources")
    for column in ("source", "connector", "last successful fetch", "age", "rows", "last attempt"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for n in notes:
        last = "ok" if n.reachable else f"[red]failed[/red]: {n.error}"
        table.add_row(n.source, n.connector, n.last_success_text, n.age_text, str(n.rows), last)
    console.print(table)


def _print_table(title: str, scores: list[store.Score]) -> None:
    catalog = load_catalog()
    frame = store.scores_frame(scores)
    units = sorted(frame["unit"].unique())
    table = Table(title=title)
    table.add_column("capability")
    table.add_column("dimension")
    for unit in units:
        table.add_column(unit, justify="center")
    levels = frame.set_index(["capability", "dimension", "unit"])["level"]
    for capability in catalog.capability_ids:
        for dimension in catalog.dimension_ids:
            cells = []
            for unit in units:
                level = levels.get((capability, dimension, unit))
                cells.append("–" if level is None or pd.isna(level) else str(int(level)))
            table.add_row(capability, dimension, *cells)
    console.print(table)
    console.print("– = unknown: no evidence yet covers this capability x dimension")


sources_app = typer.Typer(help="The evidence sources: check that each can be reached.")
app.add_typer(sources_app, name="sources")


@sources_app.command("check")
@friendly
def sources_check(
    sources: SourcesOption = None,
    cycle_id: Annotated[
        str | None, typer.Option("--cycle", help="Cycle the placeholders are filled for")
    ] = None,
    inbox: Annotated[
        Path | None, typer.Option(help="Drop folder when there is no sources file")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Try each configured source: reachable, rows, latency, and the error with its fix.

    Nothing is archived or stored. Exit code 1 when any source fails."""
    import flows  # noqa: F401  (lets sources read Prefect Secret blocks)
    from btm.cycle import cycle_for, templating
    from btm.evidence.gather import check_source, configured_sources

    settings = Settings()
    cycle_id = cycle_id or cycle_for(date.today())
    configured = configured_sources(
        sources_file=sources,
        home=settings.resolved_home,
        inbox=inbox or settings.inbox_dir / cycle_id,
    )
    checks = [check_source(s, templating=templating(cycle_id, settings)) for s in configured]
    failed = [c for c in checks if not c.reachable or c.error]
    if as_json:
        sys.stdout.write(json.dumps([asdict(c) for c in checks], indent=2) + "\n")
    else:
        table = Table(title=f"Evidence sources (placeholders filled for {cycle_id})")
        for column in ("source", "kind", "connector", "reachable", "rows", "latency", "error"):
            table.add_column(column, justify="right" if column in ("rows", "latency") else "left")
        for c in checks:
            table.add_row(
                c.source,
                c.kind,
                c.connector,
                "[green]yes[/green]" if c.reachable else "[red]no[/red]",
                str(c.rows),
                f"{c.latency_ms:.0f} ms",
                c.error or "",
            )
        console.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def kinds(
    markdown: Annotated[bool, typer.Option(help="Print the PMO's field reference")] = False,
) -> None:
    """List the evidence kinds and their fields (the canonical names sources map onto)."""
    from btm.evidence.kinds import load_kinds
    from btm.evidence.reference import kinds_markdown

    if markdown:
        sys.stdout.write(kinds_markdown())
        return
    payload = {
        name: {
            "id_field": kind.id_field,
            "description": kind.description,
            "fields": [asdict(f) for f in kind.fields],
        }
        for name, kind in load_kinds().items()
    }
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def _source_named(name: str, sources_file: Path | None) -> Source:
    from btm.evidence.gather import configured_sources

    settings = Settings()
    configured = configured_sources(
        sources_file=sources_file, home=settings.resolved_home, inbox=settings.inbox_dir
    )
    for candidate in configured:
        if candidate.name == name:
            return candidate
    raise BtmError(f"no source named {name!r}; configured: {', '.join(s.name for s in configured)}")


@app.command()
def validate(
    path: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="The CSV, XLSX or JSON file to check"),
    ],
    kind: Annotated[
        str | None, typer.Option(help="Evidence kind; by default from the file name")
    ] = None,
    cycle_id: Annotated[
        str | None, typer.Option("--cycle", help="Judge dates against this cycle (default: today)")
    ] = None,
    investments: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Investments file for the cross-kind rule"),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Apply this configured source's column and value mapping")
    ] = None,
    sources: SourcesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the structured result")] = False,
) -> None:
    """Check one file as the pipeline would: exit 0 when it would be accepted, 1 when it
    would be quarantined (the explanation on stdout), 2 for a usage error."""
    from btm.cycle import cycle_as_of
    from btm.evidence.files import kind_of_file, read_evidence
    from btm.evidence.gather import check_payload
    from btm.evidence.kinds import kind_named

    try:
        mapping = _source_named(source, sources) if source else None
        kind = kind or (mapping.kind if mapping else None) or kind_of_file(path)
        kind_named(kind)  # an unknown kind is a usage error
    except BtmError as exc:
        raise typer.BadParameter(str(exc), param_hint="--kind") from None
    try:
        as_of = cycle_as_of(cycle_id) if cycle_id else date.today()
    except BtmError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cycle") from None
    known = None
    if investments is not None:
        try:
            ids = read_evidence(investments, name=str(investments), kind="investments").frame
        except BtmError as exc:
            raise typer.BadParameter(str(exc), param_hint="--investments") from None
        if "investment_id" not in ids.columns:
            raise typer.BadParameter(
                f"{investments} has no investment_id column; give an investments export",
                param_hint="--investments",
            )
        known = {"investments": {str(v) for v in ids["investment_id"].dropna()}}
    checked = check_payload(
        path,
        name=str(path),
        kind=kind,
        as_of=as_of,
        columns=mapping.columns if mapping else None,
        values=mapping.values if mapping else None,
        known_ids=known,
    )
    result = {"file": str(path), "kind": kind, **checked.to_json()}
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        verdict = "would be accepted" if checked.accepted else "would be quarantined"
        rows = checked.outcome.rows if checked.outcome else 0
        console.print(f"{path}: {kind}, {rows} rows: {verdict}", markup=False)
        for problem in checked.problems:
            console.print(f"- {problem}", markup=False)
        for note in checked.outcome.skipped if checked.outcome else ():
            console.print(f"- not checked: {note}", markup=False)
    if not checked.accepted:
        raise typer.Exit(1)


@app.command()
@friendly
def explain(
    capability: Annotated[str, typer.Argument(help="Capability id, e.g. MTI-1")],
    unit: Annotated[str | None, typer.Option(help="Business unit (default: every unit)")] = None,
    dimension: Annotated[
        str | None, typer.Option(help="process, organization, information or technology")
    ] = None,
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Cycle (default: latest)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Why a capability's levels are what they are: every rule with its outcome, value,
    threshold, evidence batch and age, then what the next level needs."""
    from btm.explain import explain as explain_cells
    from btm.scoring import load_rubric

    engine, chosen = _scored_cycle(cycle_id)
    cells = explain_cells(
        engine=engine,
        catalog=load_catalog(),
        rubric=load_rubric(),
        cycle_id=chosen.id,
        capability=capability,
        unit=unit,
        dimension=dimension,
    )
    if as_json:
        sys.stdout.write(json.dumps([c.to_json() for c in cells], indent=2, default=str) + "\n")
        return
    for cell in cells:
        level = "unknown" if cell.level is None else str(cell.level)
        target = (
            f"; target {cell.target_level}, gap {cell.gap if cell.gap is not None else '–'}"
            if cell.target_level is not None
            else ""
        )
        console.print(
            f"[bold]{cell.capability} {cell.capability_name}, {cell.dimension}, "
            f"{cell.unit}: level {level}[/bold] (cycle {cell.cycle_id}, rubric "
            f"{cell.rubric_version}, on {cell.basis} evidence{target})",
            highlight=False,
        )
        for rule in cell.rules:
            console.print(
                f"  L{rule.level} {rule.outcome:<7} {rule.value:>8} {rule.threshold:<8} "
                f"{rule.description}" + (f" ({rule.reason})" if rule.reason else ""),
                markup=False,
            )
            for batch in rule.evidence:
                console.print(f"      evidence: {batch.text}", markup=False)
        if cell.survey:
            console.print(f"  survey: {cell.survey}", markup=False)
        for step in cell.guidance:
            console.print(f"  next, level {step.level}: {step.text}. {step.improve}", markup=False)
        if cell.level == 5:
            console.print("  top level reached", markup=False)


@app.command()
@friendly
def metrics(
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Cycle (default: latest)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every metric per business unit and for the enterprise, from a cycle's evidence."""
    from btm.cycle import assemble_evidence, cycle_as_of
    from btm.metrics import ENTERPRISE, METRICS, compute_metrics, enterprise_metrics
    from btm.scoring import format_value

    engine, chosen = _scored_cycle(cycle_id)
    evidence = assemble_evidence(engine=engine, cycle_id=chosen.id)
    as_of = cycle_as_of(chosen.id)
    table = compute_metrics(evidence.frames, as_of=as_of)
    table.loc[ENTERPRISE] = enterprise_metrics(evidence.frames, as_of=as_of)
    if as_json:
        payload = {
            "cycle": chosen.id,
            "metrics": {
                name: {
                    "kind": METRICS[name].kind,
                    "unit": METRICS[name].unit,
                    "description": METRICS[name].description,
                    "values": {
                        str(u): (None if pd.isna(v) else float(v)) for u, v in table[name].items()
                    },
                }
                for name in METRICS
            },
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    grid = Table(title=f"Metrics, cycle {chosen.id} (– = no evidence)")
    grid.add_column("metric")
    for unit in table.index:
        grid.add_column(str(unit), justify="right")
    for name in METRICS:
        grid.add_row(
            name,
            *("–" if pd.isna(v) else format_value(name, float(v)) for v in table[name]),
        )
    console.print(grid)


@app.command()
def rubric(
    markdown: Annotated[bool, typer.Option(help="Print the rule reference as Markdown")] = False,
) -> None:
    """List every rule of the rubric with its level, description and how to improve."""
    from btm.evidence.reference import rubric_markdown
    from btm.scoring import load_rubric

    if markdown:
        sys.stdout.write(rubric_markdown())
        return
    rules = [
        {
            "id": r.id,
            "capability": r.capability,
            "dimension": r.dimension,
            "level": r.level,
            "metric": r.metric,
            "operator": r.operator,
            "threshold": r.threshold,
            "applies": r.applies.text if r.applies else None,
            "max_age_days": r.max_age_days,
            "description": r.description,
            "rationale": r.rationale,
            "improve": r.improve,
        }
        for r in load_rubric().rules
    ]
    sys.stdout.write(json.dumps({"version": load_rubric().version, "rules": rules}, indent=2))
    sys.stdout.write("\n")


cycle_app = typer.Typer(help="The improvement cycle: assess, design, execute, improve.")
app.add_typer(cycle_app, name="cycle")
initiatives_app = typer.Typer(help="The improvement backlog the PMO reviews as a file.")
app.add_typer(initiatives_app, name="initiatives")


def _cycle_in(phases: tuple[str, ...], cycle_id: str | None) -> tuple[sa.Engine, str]:
    """The given cycle, or the newest one in one of `phases`."""
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    if cycle_id:
        return engine, cycle_id
    with store.session_scope(engine) as session:
        current = store.current_phases(session=session)
    candidates = [c for c, p in current.items() if p.phase in phases]
    if not candidates:
        raise BtmError(
            f"no cycle is in {' or '.join(phases)}; name one with --cycle "
            "(`btm status` lists the cycles and their phases)"
        )
    return engine, candidates[-1]


def _print_phases(statuses: list[improvement.PhaseStatus]) -> None:
    """The open cycles: phase, since when, who moved them there, what they wait for."""
    table = Table(title="Improvement cycle")
    for column in ("cycle", "phase", "since", "by", "waits for"):
        table.add_column(column)
    open_cycles = [s for s in statuses if s.phase != "closed"]
    for s in open_cycles:
        table.add_row(s.cycle_id, s.phase, s.since, s.actor, s.waits_for)
    console.print(table)
    closed = len(statuses) - len(open_cycles)
    if closed:
        console.print(f"{closed} closed cycle(s): btm cycle history")


CycleOption = Annotated[str | None, typer.Option("--cycle", help="Cycle id, e.g. 2026-Q3")]


@cycle_app.command("advance")
@friendly
def cycle_advance(
    by: Annotated[str, typer.Option("--by", help="Who advances it (recorded)")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded)")],
    cycle_id: CycleOption = None,
) -> None:
    """Move a cycle to its next phase. From design this is the PMO's approval of the
    backlog; from execute it reviews the cycle against the next one and closes it.
    Default: the newest cycle in design."""
    engine, chosen = _cycle_in(("design", "assess", "execute", "improve"), cycle_id)
    change = improvement.advance(
        engine=engine,
        cycle_id=chosen,
        actor=by,
        reason=reason,
        catalog=load_catalog(),
        settings=Settings(),
    )
    console.print(f"{chosen}: {change.phase} (by {change.actor}: {change.reason})")


@cycle_app.command("history")
@friendly
def cycle_history(
    cycle_id: CycleOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every phase change of a cycle (default: all cycles): who, when and why."""
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    with store.session_scope(engine) as session:
        chosen = [cycle_id] if cycle_id else list(store.current_phases(session=session))
        changes = [c for i in chosen for c in store.phase_history(session=session, cycle_id=i)]
    if as_json:
        rows = [
            {
                "cycle": c.cycle_id,
                "phase": c.phase,
                "entered_at": c.entered_at.isoformat(),
                "actor": c.actor,
                "reason": c.reason,
            }
            for c in changes
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="Phase changes")
    for column in ("cycle", "phase", "entered", "by", "why"):
        table.add_column(column)
    for c in changes:
        table.add_row(c.cycle_id, c.phase, f"{c.entered_at:%Y-%m-%d %H:%M}", c.actor, c.reason)
    console.print(table)


@app.command("calendar")
@friendly
def calendar_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The fiscal calendar: the quarters around today and the quarterly cron line."""
    from btm import fiscal

    settings = Settings()
    calendar = fiscal.current()
    today = date.today()
    now = calendar.containing(today)
    quarters = [calendar.previous(now), now, calendar.next(now), calendar.next(calendar.next(now))]
    rows = [
        {
            "cycle": q,
            "months": calendar.months(q),
            "start": calendar.start(q).isoformat(),
            "as_of": calendar.as_of(q).isoformat(),
            "assessed_on": calendar.start(calendar.next(q)).isoformat(),
        }
        for q in quarters
    ]
    if as_json:
        payload = {
            "fiscal_year_start_month": settings.fiscal_year_start_month,
            "in_progress": now,
            "quarters": rows,
            "quarterly_cron": calendar.cron(),
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    table = Table(
        title=f"Fiscal quarters (the fiscal year starts in month "
        f"{settings.fiscal_year_start_month}, BTM_FISCAL_YEAR_START_MONTH)"
    )
    for column in ("cycle", "months", "first day", "as of", "assessed on"):
        table.add_column(column)
    for row in rows:
        marker = " (in progress)" if row["cycle"] == now else ""
        table.add_row(
            f"{row['cycle']}{marker}", row["months"], row["start"], row["as_of"], row["assessed_on"]
        )
    console.print(table)
    console.print(f'quarterly-cycle cron in prefect.yaml: "{calendar.cron()}"')


@initiatives_app.command("list")
@friendly
def initiatives_list(
    cycle_id: CycleOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The backlog of a cycle (default: the newest cycle in design or execute), with each
    initiative's latest pulse."""
    engine, chosen = _cycle_in(("design", "execute", "improve", "closed"), cycle_id)
    with store.session_scope(engine) as session:
        backlog = store.initiatives_of(session=session, cycle_id=chosen)
        pulses = store.latest_pulses(session=session, initiative_ids=[i.id for i in backlog])
    if as_json:
        rows = [
            {
                **i.model_dump(mode="json", exclude={"created_at", "updated_at"}),
                "pulse": pulses[i.id].model_dump(mode="json") if i.id in pulses else None,
            }
            for i in backlog
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"Improvement backlog of {chosen}")
    for column in ("#", "initiative", "target", "priority", "owner", "due", "status", "pulse"):
        table.add_column(column)
    for i in backlog:
        pulse = pulses.get(i.id)
        state = f"{pulse.state} ({pulse.progress or 0:.0f} %)" if pulse else "–"
        table.add_row(
            str(i.rank),
            f"{i.capability} {i.dimension}",
            f"{i.level if i.level is not None else '?'} → {i.target_level}",
            f"{i.priority:.2f}",
            i.owner,
            i.due_cycle,
            i.status,
            state,
        )
    console.print(table)


@initiatives_app.command("export")
@friendly
def initiatives_export(
    path: Annotated[Path, typer.Argument(help="File to write: .csv, .yaml or .yml")],
    cycle_id: CycleOption = None,
) -> None:
    """Write a cycle's backlog (default: the newest in design) for the PMO's review."""
    engine, chosen = _cycle_in(("design", "execute"), cycle_id)
    count = improvement.export_backlog(engine=engine, cycle_id=chosen, path=path)
    console.print(
        f"{count} initiatives of {chosen} written to {path}; edit owner, target_level, "
        f"due_cycle, linked_projects, status or rank, then `btm initiatives import {path}`"
    )


@initiatives_app.command("import")
@friendly
def initiatives_import(
    path: Annotated[Path, typer.Argument(help="The reviewed .csv, .yaml or .yml file")],
    cycle_id: CycleOption = None,
) -> None:
    """Apply the PMO's reviewed backlog; every row is checked and nothing changes unless
    all pass. Default cycle: the newest in design."""
    engine, chosen = _cycle_in(("design", "execute"), cycle_id)
    outcome = improvement.import_backlog(
        engine=engine, cycle_id=chosen, path=path, catalog=load_catalog(), settings=Settings()
    )
    console.print(f"{chosen}: {outcome.summary}")


@app.command()
@friendly
def pulse(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day of the reading, YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Run the initiative-pulse flow: read each executing initiative's linked projects."""
    from flows.initiative_pulse import initiative_pulse

    result = initiative_pulse(as_of=as_of)
    states = ", ".join(f"{n} {s}" for s, n in result["states"].items()) or "no initiative"
    console.print(f"pulse {result['as_of']}: {states} (evidence of {result['evidence_cycle']})")


@app.command()
@friendly
def refresh(cycle_id: CycleOption = None, sources: SourcesOption = None) -> None:
    """Run the evidence-refresh flow: gather and validate every source, without scoring."""
    from flows.evidence_refresh import evidence_refresh

    result = evidence_refresh(cycle_id=cycle_id, sources_file=str(sources) if sources else None)
    quarantined = ", ".join(result["quarantined"]) or "none"
    console.print(
        f"{result['cycle']}: {result['batches']} batches ({result['new']} new); "
        f"quarantined: {quarantined}"
    )


report_app = typer.Typer(help="The trend reports: preview what each audience receives.")
app.add_typer(report_app, name="report")


@report_app.command("preview")
@friendly
def report_preview(
    cycle_id: CycleOption = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="One audience id (default: every one)")
    ] = None,
    open_it: Annotated[bool, typer.Option("--open", help="Open it in the browser")] = False,
) -> None:
    """Render a scored cycle's reports (default: the latest) into BTM_HOME/reports/preview
    and print their paths; nothing is sent or recorded."""
    from btm.reporting import write_file_atomically
    from btm.scoring import load_rubric

    engine, scored = _scored_cycle(cycle_id)
    settings = Settings()
    reports = cycle.render_audience_reports(
        engine=engine,
        cycle_id=scored.id,
        catalog=load_catalog(),
        rubric=load_rubric(),
        settings=settings,
        only=audience,
    )
    folder = settings.reports_dir / "preview" / scored.id
    for report in reports:
        path = folder / f"{report.audience.id}.html"
        write_file_atomically(path, report.standalone.html.encode("utf-8"))
        console.print(f"{report.audience.id} ({report.audience.kind}): {path}")
        if open_it:
            webbrowser.open(path.as_uri())
