"""The `btm` command: a thin door onto `btm/` and the flows.

Each command parses its options, builds the setup once (`btm.pipeline.setup`), makes one
call into the core and presents the result: a table, or with `--json` the result's own
JSON form. Every `BtmError`, whatever the command, ends as one red line naming what to
fix and exit code 1, never a traceback. A command imports what it uses when it runs, so
`btm --help` loads little more than Typer, and a read command on a current schema loads
no Alembic, templates, charts or Great Expectations. Prefect and the flows are imported
only inside the commands that start a flow run, so `btm status` never pays Prefect's
start-up cost.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console, JustifyMethod
from rich.table import Table

from btm.errors import BtmError
from btm.vocabulary import Phase

if TYPE_CHECKING:
    from btm import status as reading
    from btm import store
    from btm.evidence.notes import SourceNote
    from btm.evidence.sources import Source
    from btm.improvement.phases import PhaseStatus
    from btm.pipeline import Setup
    from btm.survey.responses import CampaignStatus

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


class Door(typer.Typer):
    """A Typer app whose every command goes through `friendly`: one handler for all."""

    def command(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        register = super().command(*args, **kwargs)

        def decorator(function: Callable[P, R]) -> Callable[P, R]:
            register(friendly(function))
            return function

        return decorator


app = Door(
    help="BTM maturity pipeline: gather evidence, score the 17 capabilities, report trends.",
    no_args_is_help=True,
    add_completion=False,
)


# output ---------------------------------------------------------------------------------


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    right: Sequence[str] = (),
    center: Sequence[str] = (),
) -> None:
    """The one way a command draws a table: numbers to the right, levels centred."""
    table = Table(title=title)
    for column in columns:
        justify: JustifyMethod = (
            "right" if column in right else "center" if column in center else "left"
        )
        table.add_column(column, justify=justify)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def say(text: str) -> None:
    console.print(text, markup=False)


def door_setup() -> Setup:
    """The command's setup (`btm.pipeline.setup`): the pipeline is imported when a command
    first needs it, not with the CLI."""
    from btm import pipeline

    return pipeline.setup()


# commands that start a flow run ---------------------------------------------------------


def _quarterly_cycle(
    cycle_id: str,
    *,
    inbox: Path | None = None,
    sources: Path | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    from flows.environment import quiet_prefect

    quiet_prefect()
    from flows.quarterly_cycle import quarterly_cycle

    return quarterly_cycle(
        cycle_id=cycle_id,
        inbox=str(inbox) if inbox else None,
        sources_file=str(sources) if sources else None,
        force=force,
        dry_run=dry_run,
    )


@app.command()
def demo() -> None:
    """Generate the sample enterprise's evidence and run the cycle for each of its quarters.

    The sample is gathered through `btm/data/demo-sources.yaml`: drop folders of CSV, JSON
    and XLSX files, and a SQL database read with a bound query. Before the last quarter,
    its self-assessment campaign is opened and about seven in ten respondents answer."""
    from btm.demo.campaign import DEMO_CAMPAIGN_CYCLE, install_demo_respondents, run_demo_campaign
    from btm.demo.sample import DEMO_CYCLES, generate_sample_evidence
    from btm.demo.walkthrough import DEMO_SOURCES, install_demo_audiences, pmo_review
    from btm.survey.responses import campaign_status
    from flows.environment import quiet_prefect

    quiet_prefect()
    from flows.evidence_refresh import evidence_refresh
    from flows.initiative_pulse import initiative_pulse

    run = door_setup()
    generate_sample_evidence(run.settings.inbox_dir, cycles=DEMO_CYCLES, calendar=run.calendar)
    install_demo_audiences(run)
    install_demo_respondents(run)
    console.print(f"sample evidence for {', '.join(DEMO_CYCLES)} in {run.settings.inbox_dir}")
    results = []
    for n, cycle_id in enumerate(DEMO_CYCLES):
        if cycle_id == DEMO_CAMPAIGN_CYCLE:
            # answered before the cycle is gathered, so that its scores read the answers
            console.print(f"  {run_demo_campaign(run, cycle_id).summary}", markup=False)
        if n:
            # the quarter's weekly refreshes and monthly pulses, in one of each
            evidence_refresh(cycle_id=cycle_id, sources_file=str(DEMO_SOURCES))
            pulsed = initiative_pulse(as_of=run.calendar.as_of(cycle_id).isoformat())
            states = ", ".join(f"{k} {s}" for s, k in pulsed["states"].items())
            console.print(f"  pulse {pulsed['as_of']}: {states or 'no initiative in flight'}")
        result = _quarterly_cycle(cycle_id, sources=DEMO_SOURCES)
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
            console.print(f"  {pmo_review(run, cycle_id)}")
    console.print(f"\nreports: {results[-1]['reports']}")
    console.print(f"emails: {run.settings.outbox_dir}")
    surveyed = campaign_status(run.engine, DEMO_CAMPAIGN_CYCLE)
    console.print(
        f"self-assessment {surveyed.cycle_id}: {answered_line(surveyed)}   "
        "rates and outstanding: btm survey status",
        markup=False,
    )
    console.print("phases: btm status   backlog: btm initiatives list   history: btm cycle history")


SourcesOption = Annotated[
    Path | None,
    typer.Option(
        "--sources", help="Sources file (default: BTM_HOME/sources.yaml, else the inbox folder)"
    ),
]
CycleOption = Annotated[str | None, typer.Option("--cycle", help="Cycle id, e.g. 2026-Q3")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command()
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
    from btm.evidence.sources import load_sources

    calendar = door_setup().calendar
    cycle_id = cycle_id or calendar.ended_before(date.today())
    calendar.parse(cycle_id)  # a malformed id is refused before Prefect starts
    if sources is not None:
        load_sources(sources)  # so is a broken sources file
    result = _quarterly_cycle(cycle_id, inbox=inbox, sources=sources, force=force, dry_run=dry_run)
    console.print_json(json.dumps(result))


@app.command()
def pulse(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day of the reading, YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Run the initiative-pulse flow: read each in-flight initiative's targeted cell and
    linked projects from the latest accepted evidence."""
    from flows.environment import quiet_prefect

    quiet_prefect()
    from flows.initiative_pulse import initiative_pulse

    result = initiative_pulse(as_of=as_of)
    states = ", ".join(f"{n} {s}" for s, n in result["states"].items()) or "no initiative"
    console.print(f"pulse {result['as_of']}: {states} (evidence of {result['evidence_cycle']})")


@app.command()
def refresh(cycle_id: CycleOption = None, sources: SourcesOption = None) -> None:
    """Run the evidence-refresh flow: gather and validate every source, without scoring."""
    from flows.environment import quiet_prefect

    quiet_prefect()
    from flows.evidence_refresh import evidence_refresh

    result = evidence_refresh(cycle_id=cycle_id, sources_file=str(sources) if sources else None)
    quarantined = ", ".join(result["quarantined"]) or "none"
    console.print(
        f"{result['cycle']}: {result['batches']} batches ({result['new']} new); "
        f"quarantined: {quarantined}"
    )


# the store: levels, metrics, explanations -------------------------------------------------


@app.command()
def sample(
    out: Annotated[Path, typer.Argument(help="Folder to write the sample exports into")],
) -> None:
    """Write the sample enterprise's evidence exports, one folder per quarter."""
    from btm.demo.sample import generate_sample_evidence

    paths = generate_sample_evidence(out, calendar=door_setup().calendar)
    console.print(f"{len(paths)} files written under {out}")


@app.command()
def status(
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Cycle to show")] = None,
    rubric: Annotated[
        str | None,
        typer.Option(
            "--rubric", help="Show the set rescored under this rubric version (default: original)"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the latest cycle's maturity levels (unit x capability x dimension), its
    sources and phases, and the last failed flow run with where its alert went."""
    from btm import status as reading

    setup = door_setup()
    try:
        shown = reading.cycle_status(setup, cycle_id, rubric)
    except BtmError:
        # A run that failed before scoring anything is still news.
        if (failure := reading.last_failure(setup)) is not None and not as_json:
            _print_failure(failure)
        raise
    if as_json:
        print_json(shown.to_json())
        return
    _print_levels(setup, shown)
    if shown.other_versions:
        console.print(
            f"also scored under rubric {', '.join(shown.other_versions)}: "
            f"btm status --cycle {shown.cycle.id} --rubric VERSION"
        )
    _print_sources(shown.sources)
    _print_phases(shown.phases)
    if shown.last_failure is not None:
        _print_failure(shown.last_failure)


def _print_failure(failure: store.RunFailure) -> None:
    """The last failed flow run: when, why, and where its ops alert is."""
    console.print(
        f"[red]Last failed run[/red]: {failure.run_name} of {failure.flow_name}, "
        f"{failure.state} at {failure.failed_at:%Y-%m-%d %H:%M} UTC: {failure.detail}"
    )
    alert = f"kept in {failure.alert_path}" if failure.alert_path else "not kept"
    emailed = ", emailed to ops" if failure.alert_emailed else ""
    why = f" ({failure.alert_error})" if failure.alert_error else ""
    console.print(f"  alert: {alert}{emailed}{why}")
    console.print(f"  run: {failure.link}")


def _print_levels(setup: Setup, shown: reading.CycleStatus) -> None:
    levels = {(s.capability, s.dimension, s.unit): s.level for s in shown.scores}
    units = sorted({s.unit for s in shown.scores})
    print_table(
        shown.title,
        ("capability", "dimension", *units),
        (
            (c, d, *(_level_text(levels.get((c, d, u))) for u in units))
            for c in setup.catalog.capability_ids
            for d in setup.catalog.dimension_ids
        ),
        center=units,
    )
    console.print("– = unknown: no evidence yet covers this capability x dimension")


def _level_text(level: int | None) -> str:
    return "–" if level is None else str(level)


def _print_sources(notes: Sequence[SourceNote]) -> None:
    print_table(
        "Evidence sources",
        ("source", "connector", "last successful fetch", "age", "rows", "last attempt"),
        (
            (
                n.source,
                n.connector,
                n.last_success_text,
                n.age_text,
                str(n.rows),
                "ok" if n.reachable else f"[red]failed[/red]: {n.error}",
            )
            for n in notes
        ),
        right=("rows",),
    )


def _print_phases(statuses: Sequence[PhaseStatus]) -> None:
    """The open cycles: phase, since when, who moved them there, what they wait for."""
    open_cycles = [s for s in statuses if s.phase != Phase.CLOSED]
    print_table(
        "Improvement cycle",
        ("cycle", "phase", "since", "by", "waits for"),
        ((s.cycle_id, s.phase, s.since, s.actor, s.waits_for) for s in open_cycles),
    )
    closed = len(statuses) - len(open_cycles)
    if closed:
        console.print(f"{closed} closed cycle(s): btm cycle history")


@app.command()
def rescore(
    cycle_id: Annotated[str, typer.Option("--cycle", help="The scored cycle, e.g. 2026-Q1")],
    force: Annotated[
        bool,
        typer.Option(help="Replace the original scores when the rubric's version is unchanged"),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Rescore a cycle's stored evidence under the current rubric, as a set labelled with
    the rubric's version; the original scores are kept. Nothing is gathered or sent."""
    from btm import pipeline

    outcome = pipeline.rescore(door_setup(), cycle_id, force=force)
    if as_json:
        print_json(outcome.to_json())
        return
    say(outcome.summary)
    say(f"levels: btm status --cycle {cycle_id} --rubric {outcome.rubric_version}")


@app.command()
def explain(
    capability: Annotated[str, typer.Argument(help="Capability id, e.g. MTI-1")],
    unit: Annotated[str | None, typer.Option(help="Business unit (default: every unit)")] = None,
    dimension: Annotated[
        str | None, typer.Option(help="process, organization, information or technology")
    ] = None,
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Cycle (default: latest)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Why a capability's levels are what they are: every rule with its outcome, value,
    threshold, evidence batch and age, then what the next level needs."""
    from btm import status as reading
    from btm.explain import explain as explain_cells

    setup = door_setup()
    cells = explain_cells(
        engine=setup.engine,
        catalog=setup.catalog,
        rubric=setup.rubric,
        calendar=setup.calendar,
        cycle_id=reading.scored_cycle(setup, cycle_id).id,
        capability=capability,
        unit=unit,
        dimension=dimension,
    )
    if as_json:
        print_json([c.to_json() for c in cells])
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
            f"{cell.rubric_version}{target})",
            highlight=False,
        )
        trust = f", confidence {cell.confidence_text}" if cell.confidence_text else ""
        stale = ", judged on stale evidence" if cell.stale else ""
        say(f"  basis: {cell.basis.replace('_', ' ')}{trust}{stale}")
        if cell.reason:
            say(f"  {cell.reason}")
        for rule in cell.rules:
            details = "; ".join(part for part in (rule.reason, rule.coverage) if part)
            say(
                f"  L{rule.level} {rule.outcome:<7} {rule.value:>8} {rule.threshold:<8} "
                f"{rule.description}" + (f" ({details})" if details else "")
            )
            for batch in rule.evidence:
                say(f"      evidence: {batch.text}")
        if cell.survey:
            say(f"  survey: {cell.survey}")
        for step in cell.guidance:
            say(f"  next, level {step.level}: {step.text}. {step.improve}")
        if cell.level == setup.catalog.highest_level:
            say("  top level reached")


@app.command()
def metrics(
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Cycle (default: latest)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every metric per business unit and for the enterprise, from a cycle's evidence."""
    import pandas as pd

    from btm import status as reading
    from btm.metrics import METRICS
    from btm.scoring.rubric import format_value

    computed = reading.cycle_metrics(door_setup(), cycle_id)
    if as_json:
        print_json(computed.to_json())
        return
    table = computed.table
    print_table(
        f"Metrics, cycle {computed.cycle_id} (– = no evidence)",
        ("metric", *(str(u) for u in table.index)),
        (
            (name, *("–" if pd.isna(v) else format_value(name, float(v)) for v in table[name]))
            for name in METRICS
        ),
        right=tuple(str(u) for u in table.index),
    )


# the evidence: kinds, sources, one file ---------------------------------------------------


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
    print_json({name: kind.to_json() for name, kind in load_kinds().items()})


sources_app = Door(help="The evidence sources: check that each can be reached.")
app.add_typer(sources_app, name="sources")


@sources_app.command("check")
def sources_check(
    sources: SourcesOption = None,
    cycle_id: Annotated[
        str | None, typer.Option("--cycle", help="Cycle the placeholders are filled for")
    ] = None,
    inbox: Annotated[
        Path | None, typer.Option(help="Drop folder when there is no sources file")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Try each configured source: reachable, rows, latency, and the error with its fix.

    Nothing is archived or stored. Exit code 1 when any source fails."""
    from btm import pipeline
    from btm.evidence.gather import check_source, configured_sources

    # a source may name a Prefect Secret block, which only Prefect can read
    from flows.credentials import load_secret_block

    settings = door_setup().settings
    cycle_id = cycle_id or settings.calendar.ended_before(date.today())
    configured = configured_sources(
        sources_file=sources,
        home=settings.resolved_home,
        inbox=inbox or settings.inbox_dir / cycle_id,
    )
    templating = pipeline.templating_for(cycle_id, settings, load_secret_block)
    limits = settings.read_limits
    checks = [check_source(s, templating=templating, limits=limits) for s in configured]
    if as_json:
        print_json([c.to_json() for c in checks])
    else:
        print_table(
            f"Evidence sources (placeholders filled for {cycle_id})",
            ("source", "kind", "connector", "reachable", "rows", "latency", "error"),
            (
                (
                    c.source,
                    c.kind,
                    c.connector,
                    "[green]yes[/green]" if c.reachable else "[red]no[/red]",
                    str(c.rows),
                    f"{c.latency_ms:.0f} ms",
                    c.error or "",
                )
                for c in checks
            ),
            right=("rows", "latency"),
        )
    if any(c.failed for c in checks):
        raise typer.Exit(1)


def _source_named(name: str, sources_file: Path | None) -> Source:
    from btm.evidence.gather import configured_sources

    settings = door_setup().settings
    configured = configured_sources(
        sources_file=sources_file, home=settings.resolved_home, inbox=settings.inbox_dir
    )
    for candidate in configured:
        if candidate.name == name:
            return candidate
    raise BtmError(f"no source named {name!r}; configured: {', '.join(s.name for s in configured)}")


def _usage(hint: str, read: Callable[[], R]) -> R:
    """A mistake in the command itself is a usage error (exit 2) naming the option."""
    try:
        return read()
    except BtmError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


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
    from btm.evidence.files import kind_of_file
    from btm.evidence.gather import check_payload, known_ids_in_file
    from btm.evidence.kinds import kind_named

    setup = door_setup()
    mapping = _usage("--kind", lambda: _source_named(source, sources) if source else None)
    kind = (
        kind or (mapping.kind if mapping else None) or _usage("--kind", lambda: kind_of_file(path))
    )
    _usage("--kind", lambda: kind_named(kind))  # an unknown kind is a usage error
    as_of = _usage("--cycle", lambda: setup.calendar.as_of(cycle_id) if cycle_id else date.today())
    limits = setup.settings.read_limits
    known = (
        _usage(
            "--investments", lambda: known_ids_in_file(investments, "investments", limits=limits)
        )
        if investments is not None
        else None
    )
    checked = check_payload(
        path,
        name=str(path),
        kind=kind,
        as_of=as_of,
        columns=mapping.columns if mapping else None,
        values=mapping.values if mapping else None,
        known_ids=known,
        suites=setup.suites,
        limits=limits,
    )
    if as_json:
        print_json({"file": str(path), "kind": kind, **checked.to_json()})
    else:
        verdict = "would be accepted" if checked.accepted else "would be quarantined"
        rows = checked.outcome.rows if checked.outcome else 0
        say(f"{path}: {kind}, {rows} rows: {verdict}")
        for problem in checked.problems:
            say(f"- {problem}")
        for note in checked.outcome.skipped if checked.outcome else ():
            say(f"- not checked: {note}")
    if not checked.accepted:
        raise typer.Exit(1)


@app.command()
def model(
    markdown: Annotated[bool, typer.Option(help="Print the model reference as Markdown")] = False,
) -> None:
    """The capabilities, dimensions, levels and states, with the source of every text."""
    from btm.catalog import model_markdown

    catalog = door_setup().catalog
    if markdown:
        sys.stdout.write(model_markdown(catalog))
        return
    print_table(
        "The capabilities and where their names and scopes come from",
        ("id", "capability", "name from", "scope from"),
        (
            (c.id, c.name, c.provenance.get("name", ""), c.provenance.get("covers", ""))
            for c in catalog.capabilities
        ),
    )


@app.command()
def rubric(
    markdown: Annotated[bool, typer.Option(help="Print the rule reference as Markdown")] = False,
) -> None:
    """List every rule of the rubric with its level, description and how to improve."""
    from btm.scoring.reference import rubric_markdown

    setup = door_setup()
    if markdown:
        sys.stdout.write(rubric_markdown(setup.rubric, setup.catalog))
        return
    print_json(setup.rubric.to_json())


# the improvement cycle --------------------------------------------------------------------


cycle_app = Door(help="The improvement cycle: assess, design, execute, improve.")
app.add_typer(cycle_app, name="cycle")
initiatives_app = Door(help="The improvement backlog the PMO reviews as a file.")
app.add_typer(initiatives_app, name="initiatives")


@cycle_app.command("advance")
def cycle_advance(
    by: Annotated[str, typer.Option("--by", help="Who advances it (recorded)")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded)")],
    cycle_id: CycleOption = None,
) -> None:
    """Move a cycle to its next phase. From design this is the PMO's approval of the
    backlog; from execute it reviews the cycle against the next one and closes it.
    Default: the newest cycle in design."""
    from btm import status as reading
    from btm.improvement.progress import advance

    setup = door_setup()
    phases = (Phase.DESIGN, Phase.ASSESS, Phase.EXECUTE, Phase.IMPROVE)
    chosen = reading.cycle_in(setup, phases, cycle_id)
    change = advance(
        engine=setup.engine,
        cycle_id=chosen,
        actor=by,
        reason=reason,
        catalog=setup.catalog,
        settings=setup.settings,
    )
    console.print(f"{chosen}: {change.phase} (by {change.actor}: {change.reason})")


@cycle_app.command("history")
def cycle_history(cycle_id: CycleOption = None, as_json: JsonOption = False) -> None:
    """Every phase change of a cycle (default: all cycles) and every decision on an
    initiative of its backlog: who, when and why."""
    from btm import status as reading

    history = reading.phase_history(door_setup(), cycle_id)
    if as_json:
        print_json(history.to_json())
        return
    print_table(
        "Phase changes",
        ("cycle", "phase", "entered", "by", "why"),
        (
            (c.cycle_id, c.phase, f"{c.entered_at:%Y-%m-%d %H:%M}", c.actor, c.reason)
            for c in history.changes
        ),
    )
    print_table(
        "Initiative decisions",
        ("cycle", "initiative", "decision", "when", "by", "why"),
        (
            (
                d.cycle_id,
                d.initiative_id,
                d.decision,
                f"{d.decided_at:%Y-%m-%d %H:%M}",
                d.actor,
                d.reason,
            )
            for d in history.decisions
        ),
    )


@app.command("calendar")
def calendar_command(as_json: JsonOption = False) -> None:
    """The fiscal calendar: the quarters around today and the quarterly cron line."""
    from btm import status as reading

    view = reading.calendar_view(door_setup().calendar, date.today())
    if as_json:
        print_json(view.to_json())
        return
    print_table(
        f"Fiscal quarters (the fiscal year starts in month {view.first_month}, "
        "BTM_FISCAL_YEAR_START_MONTH)",
        ("cycle", "months", "first day", "as of", "assessed on"),
        (
            (
                q.cycle + (" (in progress)" if q.cycle == view.in_progress else ""),
                q.months,
                q.start.isoformat(),
                q.as_of.isoformat(),
                q.assessed_on.isoformat(),
            )
            for q in view.quarters
        ),
    )
    console.print(f'quarterly-cycle cron in prefect.yaml: "{view.cron}"')


@initiatives_app.command("list")
def initiatives_list(cycle_id: CycleOption = None, as_json: JsonOption = False) -> None:
    """The backlog of a cycle (default: the newest cycle in design or execute): its own
    initiatives and those carried over, each with its span, status and latest pulse."""
    from btm import status as reading
    from btm.improvement.section import span_text, status_in_backlog

    setup = door_setup()
    phases = (Phase.DESIGN, Phase.EXECUTE, Phase.IMPROVE, Phase.CLOSED)
    shown = reading.backlog(setup, reading.cycle_in(setup, phases, cycle_id))
    if as_json:
        print_json(shown.to_json())
        return
    rows = []
    for i in shown.initiatives:
        latest = shown.pulses.get(i.id)
        rows.append(
            (
                str(i.rank),
                f"{i.capability} {i.dimension}",
                f"{i.level if i.level is not None else '?'} → {i.target_level}",
                f"{i.priority:.2f}",
                i.owner,
                span_text(i),
                status_in_backlog(i, shown.cycle_id),
                f"{latest.state} ({latest.progress or 0:.0f} %)" if latest else "–",
            )
        )
    print_table(
        f"Improvement backlog of {shown.cycle_id}",
        ("#", "initiative", "target", "priority", "owner", "span", "status", "pulse"),
        rows,
    )


@initiatives_app.command("export")
def initiatives_export(
    path: Annotated[Path, typer.Argument(help="File to write: .csv, .yaml or .yml")],
    cycle_id: CycleOption = None,
) -> None:
    """Write a cycle's backlog (default: the newest in design) for the PMO's review."""
    from btm import status as reading
    from btm.improvement.backlog import export_backlog

    setup = door_setup()
    chosen = reading.cycle_in(setup, (Phase.DESIGN, Phase.EXECUTE), cycle_id)
    count = export_backlog(engine=setup.engine, cycle_id=chosen, path=path)
    console.print(
        f"{count} initiatives of {chosen} written to {path}; edit owner, target_level, "
        "due_cycle, linked_projects, the estimates, or decide a status (approved, deferred, "
        f"dropped) with decided_by and decision_reason, then `btm initiatives import {path}`"
    )


@initiatives_app.command("import")
def initiatives_import(
    path: Annotated[Path, typer.Argument(help="The reviewed .csv, .yaml or .yml file")],
    cycle_id: CycleOption = None,
) -> None:
    """Apply the PMO's reviewed backlog; every row is checked and nothing changes unless
    all pass. Default cycle: the newest in design."""
    from btm import status as reading
    from btm.improvement.backlog import import_backlog

    setup = door_setup()
    chosen = reading.cycle_in(setup, (Phase.DESIGN, Phase.EXECUTE), cycle_id)
    outcome = import_backlog(
        engine=setup.engine,
        cycle_id=chosen,
        path=path,
        catalog=setup.catalog,
        settings=setup.settings,
    )
    console.print(f"{chosen}: {outcome.summary}")


# the reports ------------------------------------------------------------------------------


report_app = Door(help="The trend reports: preview what each audience receives.")
app.add_typer(report_app, name="report")


@report_app.command("preview")
def report_preview(
    cycle_id: CycleOption = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="One audience id (default: every one)")
    ] = None,
    open_it: Annotated[bool, typer.Option("--open", help="Open it in the browser")] = False,
) -> None:
    """Render a scored cycle's reports (default: the latest) into BTM_HOME/reports/preview
    and print their paths; nothing is sent or recorded."""
    import webbrowser

    from btm import pipeline
    from btm import status as reading
    from btm.reporting.compose import write_previews

    setup = door_setup()
    scored = reading.scored_cycle(setup, cycle_id)
    reports = pipeline.render(setup, scored.id, only=audience)
    for report, path in write_previews(reports, cycle_id=scored.id, settings=setup.settings):
        console.print(f"{report.audience.id} ({report.audience.kind}): {path}")
        if open_it:
            webbrowser.open(path.as_uri())


# the self-assessment survey ---------------------------------------------------------------


survey_app = Door(help="Self-assessment campaigns: questionnaires out, reminders, answers back.")
app.add_typer(survey_app, name="survey")


def _day(text: str | None, option: str) -> date | None:
    """An ISO date given on the command line, or a clear error naming the option."""
    from btm.errors import ConfigurationError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"{option} {text!r} is not a date; write it YYYY-MM-DD") from None


@survey_app.command("open")
def survey_open(
    cycle_id: Annotated[
        str | None,
        typer.Option("--cycle", help="Cycle id, e.g. 2026-Q3 (default: the quarter in progress)"),
    ] = None,
    closes: Annotated[
        str | None,
        typer.Option(
            "--closes", help="Last day answers are taken, YYYY-MM-DD (default: in 21 days)"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Open the cycle's campaign: build a questionnaire per respondent of
    BTM_HOME/respondents.yaml and email each one its workbook, once per cycle."""
    from btm.survey.campaign import open_campaign

    setup = door_setup()
    chosen = cycle_id or setup.calendar.containing(date.today())
    opened = open_campaign(setup, chosen, closes_on=_day(closes, "--closes"))
    if as_json:
        print_json(opened.to_json())
        return
    say(
        f"{opened.cycle_id}: campaign {opened.campaign_id}, closes {opened.closes_on}; "
        f"questionnaires in {opened.folder}"
    )
    say(
        f"invited now: {len(opened.invited)} (by {opened.channel}); "
        f"invited before: {len(opened.already)}; failed: {len(opened.failed)}"
    )
    for failure in opened.failed:
        errors.print(f"[red]not sent:[/red] {failure}", highlight=False, soft_wrap=True)
    if opened.failed:
        raise typer.Exit(1)


def answered_line(status: CampaignStatus) -> str:
    """How many of the campaign's invitees have answered, and the rate."""
    invited = len(status.invitees)
    answered = invited - len(status.outstanding)
    rate = f" ({answered / invited:.0%})" if invited else ""
    return f"{answered} of {invited} answered{rate}, {len(status.outstanding)} outstanding"


@survey_app.command("status")
def survey_status(
    cycle_id: Annotated[
        str | None,
        typer.Option("--cycle", help="Cycle id, e.g. 2026-Q3 (default: the latest campaign)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Response rates per unit and role, who is outstanding, and which returns were
    quarantined and why."""
    from btm.survey.responses import campaign_status

    status = campaign_status(door_setup().engine, cycle_id)
    if as_json:
        print_json(status.to_json())
        return
    state = "open" if status.open else "closed"
    say(f"{status.cycle_id}: campaign {status.campaign_id}, {state}, closes {status.closes_on}")
    say(answered_line(status))
    print_table(
        "Response rates",
        ["Unit", "Role", "Answered", "Invited", "Rate"],
        (
            [r.unit, r.role or "all roles", str(r.answered), str(r.invited), f"{r.rate:.0%}"]
            for r in status.rates
        ),
        right=["Answered", "Invited", "Rate"],
    )
    if status.outstanding:
        print_table(
            "Outstanding",
            ["Name", "Email", "Unit", "Role"],
            ([i.name, i.email, i.unit, i.role] for i in status.outstanding),
        )
    for invitee in status.invitees:
        if invitee.returns > 1:
            say(f"{invitee.email} returned {invitee.returns} times: the latest return counts")
    for part, why in status.quarantined:
        say(f"quarantined: {part}: {why}")


@survey_app.command("remind")
def survey_remind(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day of the reminders, YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Run the survey-reminders flow: remind each respondent of an open campaign who has
    not answered, at most once a week each."""
    from flows.environment import quiet_prefect

    _day(as_of, "--as-of")  # a malformed day is refused before Prefect starts
    quiet_prefect()
    from flows.survey_reminders import survey_reminders

    result = survey_reminders(as_of=as_of)
    if not result["campaigns"]:
        say(f"{result['as_of']}: no campaign is open; nothing to remind")
    for campaign in result["campaigns"]:
        say(
            f"{campaign['cycle']} ({campaign['campaign']}): reminded "
            f"{len(campaign['reminded'])}, {len(campaign['reminded_earlier_this_week'])} "
            f"earlier this week; {campaign['answered']} answered, "
            f"{campaign['outstanding']} outstanding"
        )
        for failure in campaign["failed"]:
            errors.print(f"[red]not sent:[/red] {failure}", highlight=False, soft_wrap=True)
