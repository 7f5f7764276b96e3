"""The `btm` command: a thin door onto `btm/` and the flows.

Every command that prints data has a `--json` form. Mistakes in input or settings end
with one red line naming what to fix and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from btm import store
from btm.catalog import load_catalog
from btm.errors import BtmError
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


def _run_cycle(cycle_id: str, inbox: Path | None) -> dict[str, Any]:
    # The flow is imported here so that `btm status` never pays Prefect's start-up cost.
    from flows.quarterly_cycle import quarterly_cycle

    return quarterly_cycle(cycle_id=cycle_id, inbox=str(inbox) if inbox else None)


@app.command()
@friendly
def demo() -> None:
    """Generate the sample enterprise's evidence and run the cycle for each of its quarters."""
    from btm.evidence.sample import DEMO_CYCLES, generate_sample_evidence

    settings = Settings()
    generate_sample_evidence(settings.inbox_dir, cycles=DEMO_CYCLES)
    console.print(f"sample evidence for {', '.join(DEMO_CYCLES)} in {settings.inbox_dir}")
    results = [_run_cycle(cycle_id, settings.inbox_dir / cycle_id) for cycle_id in DEMO_CYCLES]
    for result in results:
        quarantined = ", ".join(result["quarantined"]) or "none"
        console.print(
            f"[bold]{result['cycle']}[/bold]: {result['scores']} scores; "
            f"quarantined: {quarantined}; email: {result['delivery'] or 'already delivered'}"
        )
    last = results[-1]
    console.print(f"\nreport: {last['report']}")
    console.print(f"emails: {settings.outbox_dir}")
    console.print("levels: btm status")


@app.command()
@friendly
def run(
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Quarter, e.g. 2026-Q1")] = None,
    inbox: Annotated[Path | None, typer.Option(help="Folder of the quarter's exports")] = None,
) -> None:
    """Run the quarterly cycle once (by default for the last quarter that ended)."""
    from btm.cycle import cycle_for, parse_cycle_id

    cycle_id = cycle_id or cycle_for(date.today())
    parse_cycle_id(cycle_id)  # a malformed id is refused before Prefect starts
    result = _run_cycle(cycle_id, inbox)
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


@app.command()
@friendly
def status(
    cycle_id: Annotated[str | None, typer.Option("--cycle", help="Cycle to show")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show the latest cycle's maturity levels (unit x capability x dimension)."""
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    with store.session_scope(engine) as session:
        cycle = (
            session.get(store.Cycle, cycle_id) if cycle_id else store.latest_cycle(session=session)
        )
        if cycle is None:
            raise BtmError(
                f"no scored cycle {cycle_id or ''} in {settings.effective_database_url}; "
                "run `btm demo` or `btm run` first".replace("  ", " ")
            )
        scores = store.get_scores(session=session, cycle_id=cycle.id)
    if as_json:
        payload = {
            "cycle": cycle.id,
            "as_of": cycle.as_of.isoformat(),
            "rubric_version": cycle.rubric_version,
            "scores": [
                {
                    "unit": s.unit,
                    "capability": s.capability,
                    "dimension": s.dimension,
                    "level": s.level,
                }
                for s in scores
            ],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    _print_table(cycle.id, cycle.rubric_version or "", scores)


def _print_table(cycle_id: str, rubric_version: str, scores: list[store.Score]) -> None:
    catalog = load_catalog()
    frame = store.scores_frame(scores)
    units = sorted(frame["unit"].unique())
    table = Table(title=f"BTM maturity, cycle {cycle_id} (rubric {rubric_version})")
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
