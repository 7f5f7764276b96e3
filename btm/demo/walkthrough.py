"""The demo's PMO: what a person does between two scheduled runs, played from the sample
enterprise, so that `btm demo` walks every cycle through all five phases.

After each quarterly run it exports the cycle's backlog, links each new initiative to
active projects of the portfolio (a carried one keeps its links), decides two of them one
by one (the first approved as a two-quarter programme with its estimates, the last
deferred), imports the file and approves the rest (the design -> execute gate).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from btm.fiscal import FiscalCalendar
from btm.improvement.backlog import export_backlog, import_backlog
from btm.improvement.phases import Phase, current_phase
from btm.improvement.progress import advance
from btm.improvement.pulse import latest_projects
from btm.pipeline import Setup
from btm.resources import DATA_DIR

DEMO_SOURCES = DATA_DIR / "demo-sources.yaml"
DEMO_AUDIENCES = DATA_DIR / "demo-audiences.yaml"
DEMO_PMO = "demo PMO"


def install_demo_audiences(run: Setup) -> None:
    """The demo's five audiences, unless this home already names its own."""
    audiences_file = run.home / "audiences.yaml"
    if run.settings.audiences_file is None and not audiences_file.exists():
        audiences_file.parent.mkdir(parents=True, exist_ok=True)
        audiences_file.write_text(DEMO_AUDIENCES.read_text(encoding="utf-8"), encoding="utf-8")


def pmo_review(run: Setup, cycle_id: str) -> str:
    """The PMO's part of the demo: export the backlog, link projects, import, approve.
    A cycle already past design (a second demo run) is left as it is."""
    phase = current_phase(engine=run.engine, cycle_id=cycle_id)
    if phase != Phase.DESIGN:
        return f"{cycle_id}: {phase or 'not opened'}, already reviewed"
    path = run.home / "reviews" / f"{cycle_id}-backlog.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    export_backlog(engine=run.engine, cycle_id=cycle_id, path=path)
    _, projects = latest_projects(engine=run.engine, up_to=cycle_id)
    active = projects.loc[projects["status"] == "active", "project_id"].astype(str).tolist()
    review_backlog(path, active_projects=active, calendar=run.calendar)
    imported = import_backlog(
        engine=run.engine, cycle_id=cycle_id, path=path, catalog=run.catalog, settings=run.settings
    )
    change = advance(
        engine=run.engine,
        cycle_id=cycle_id,
        actor=DEMO_PMO,
        reason=f"backlog reviewed in {path.name}: {imported.summary}",
        catalog=run.catalog,
        settings=run.settings,
    )
    return f"{cycle_id}: backlog reviewed ({imported.summary}) and approved: {change.phase}"


def review_backlog(
    path: Path, *, active_projects: Sequence[str], calendar: FiscalCalendar, per_initiative: int = 2
) -> None:
    """The demo's stand-in for the PMO's review of an exported YAML backlog: link each new
    initiative to active projects of the portfolio, spread deterministically; approve the
    first new one as a two-quarter programme with its estimates and defer the last; give
    the first overdue one another quarter and drop the other overdue ones."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    cycle_id = str(document["cycle"])
    projects = sorted(active_projects)
    new = [i for i in document["initiatives"] if str(i["id"]).startswith(cycle_id)]
    for n, initiative in enumerate(new):
        if projects:
            picks = {projects[(n * 7 + k * 13) % len(projects)] for k in range(per_initiative)}
            initiative["linked_projects"] = sorted(picks)
    decided = {"decided_by": DEMO_PMO}
    if len(new) >= 2:
        new[0].update(
            decided,
            status="approved",
            due_cycle=calendar.shifted(cycle_id, 2),
            effort_days=40,
            cost_estimate=85000,
            expected_gain=1,
            decision_reason="a two-quarter programme, funded from the change budget",
        )
        new[-1].update(decided, status="deferred", decision_reason="no capacity this quarter")
    overdue = [i for i in document["initiatives"] if i["status"] == "overdue"]
    for n, initiative in enumerate(overdue):
        if n == 0:
            initiative.update(
                decided,
                status="approved",
                due_cycle=calendar.next(cycle_id),
                decision_reason="one more quarter: its projects are under way",
            )
        else:
            initiative.update(
                decided, status="dropped", decision_reason="missed its due cycle: room for new"
            )
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "utf-8")
