"""The demo's self-assessment campaign: the sample enterprise's respondents are invited for
one cycle, and about seven in ten of them fill in and return their questionnaire before
that cycle is gathered, so that its scores read their answers and `btm survey status` has
a response rate to show.

Each answer is what the unit's own survey export of the cycle already says of that cell
(its median answer, rounded as the scoring rounds it), so the returns add voices without
moving what a unit says of itself. Who answers, and which questions they leave blank, is
drawn from the sample's seed. A second demo run finds the campaign, its invitations in
the ledger and the returns in place, and changes nothing.
"""

from __future__ import annotations

import csv
import os
import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml
from openpyxl import load_workbook

from btm import store
from btm.demo.sample import DEMO_CYCLES, SAMPLE_SEED, SURVEY_FILE, sample_respondents
from btm.pipeline import Setup
from btm.scoring.survey import says
from btm.survey.campaign import DEFAULT_OPEN_DAYS, open_campaign, survey_folder
from btm.survey.respondents import RESPONDENTS_FILE
from btm.survey.workbook import (
    ANSWER_COLUMN,
    CAPABILITY_COLUMN,
    DIMENSION_COLUMN,
    FIRST_QUESTION_ROW,
    QUESTIONNAIRE_SHEET,
)

if TYPE_CHECKING:
    from btm.delivery import SmtpConfig

# The cycle the demo asks the units about: the last, the one left waiting for the PMO.
DEMO_CAMPAIGN_CYCLE = DEMO_CYCLES[-1]
ANSWER_SHARE = 0.7  # of the invitees, those who return their questionnaire
BLANK_SHARE = 0.08  # of a returned questionnaire's questions, those left blank
PLAUSIBLE_LEVEL = 3  # the middle of the scale: the answer where no export speaks for the unit
RETURNED = "returned"  # BTM_HOME/survey/<cycle>/returned/, the survey-returns location
_ANSWERING, _BLANKS = 1, 2  # the streams of the draws, after the seed
# A respondent's answer to the question on (capability, dimension): a level, or None.
Answering = Callable[[str, str], int | None]
RESPONDENTS_HEADER = """\
# The sample enterprise's respondents (btm/demo/sample.py). `btm demo` wrote this file
# because this home had none; edit it to try other people (docs: btm/survey/respondents.py).
"""


@dataclass(frozen=True)
class DemoCampaign:
    """What the demo's campaign step did."""

    cycle_id: str
    campaign_id: str
    closes_on: date
    open: bool  # on the day of the run: a closed campaign is returned nothing more
    invitees: int
    invited: int  # emailed by this run (a second run: none)
    returned: tuple[str, ...]  # the addresses whose questionnaire this run returned
    folder: Path  # where the returns were saved

    @property
    def summary(self) -> str:
        invited = f"{self.invited} invited" if self.invited else "invitations sent before"
        if self.returned:
            returned = f"{len(self.returned)} questionnaires returned into {self.folder}"
        else:
            returned = "the returns already in place" if self.open else "closed"
        return (
            f"{self.cycle_id}: self-assessment campaign {self.campaign_id}, closes "
            f"{self.closes_on}: {self.invitees} respondents, {invited}, {returned}"
        )


def install_demo_respondents(run: Setup) -> None:
    """The sample enterprise's respondents, unless this home already lists its own."""
    path = run.home / RESPONDENTS_FILE
    if path.exists():
        return
    listed = {"respondents": [asdict(r) for r in sample_respondents()]}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        listed, sort_keys=False, allow_unicode=True, default_flow_style=None, width=120
    )
    path.write_text(RESPONDENTS_HEADER + text, encoding="utf-8")


def run_demo_campaign(
    run: Setup,
    cycle_id: str = DEMO_CAMPAIGN_CYCLE,
    *,
    today: date | None = None,
    seed: int = SAMPLE_SEED,
) -> DemoCampaign:
    """Open the cycle's campaign unless it has one (closing three weeks from today, its
    invitations into the outbox), then return the questionnaires of the invitees drawn to
    answer, each saved once into the returns folder while the campaign is open."""
    day = today or date.today()
    campaign = store.survey_campaign(engine=run.engine, cycle_id=cycle_id)
    invited = 0
    if campaign is None:
        opened = open_campaign(
            run,
            cycle_id,
            closes_on=day + timedelta(DEFAULT_OPEN_DAYS),
            today=day,
            smtp=_outbox,
        )
        invited = len(opened.invited)
        campaign = store.survey_campaign(engine=run.engine, cycle_id=cycle_id)
        assert campaign is not None  # just opened
    invitees = store.survey_invitees(engine=run.engine, campaign_id=campaign.id)
    folder = survey_folder(run.home, cycle_id) / RETURNED
    levels = SaidLevels.of(run.settings.inbox_dir / cycle_id / SURVEY_FILE)
    returned = []
    is_open = campaign.closes_on >= day
    if is_open:  # a closed campaign takes no answer: none is made up
        for n, respondent_id in answering(sorted(invitees), seed=seed):
            invitee = invitees[respondent_id]
            sent = run.home / invitee.workbook
            target = folder / sent.name
            if target.exists():
                continue
            blanks = np.random.default_rng([seed, _BLANKS, n])
            fill_questionnaire(sent, target, levels.answers(invitee.unit, blanks=blanks))
            returned.append(invitee.email)
    return DemoCampaign(
        cycle_id=cycle_id,
        campaign_id=campaign.id,
        closes_on=campaign.closes_on,
        open=is_open,
        invitees=len(invitees),
        invited=invited,
        returned=tuple(returned),
        folder=folder,
    )


def _outbox() -> SmtpConfig | None:
    """The demo's invitations go to the outbox, whatever SMTP the settings name: a
    home's own respondents.yaml may list real people."""
    return None


def answering(respondent_ids: list[str], *, seed: int) -> list[tuple[int, str]]:
    """The respondents who answer, with their place in `respondent_ids`: ANSWER_SHARE
    of them (rounded half up), drawn from the seed."""
    count = int(ANSWER_SHARE * len(respondent_ids) + 0.5)
    rng = np.random.default_rng([seed, _ANSWERING])
    picked = sorted(int(i) for i in rng.choice(len(respondent_ids), count, replace=False))
    return [(i, respondent_ids[i]) for i in picked]


@dataclass(frozen=True)
class SaidLevels:
    """What the units say of themselves in a survey export: per cell and per unit, the
    median answer rounded half up, as the scoring's `says` rounds it."""

    cells: Mapping[tuple[str, str, str], int]
    units: Mapping[str, int]

    @classmethod
    def of(cls, path: Path) -> SaidLevels:
        """The levels of the survey export at `path`; none when there is no such file."""
        scores: dict[tuple[str, str, str], list[float]] = {}
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    cell = (row["business_unit"], row["capability"], row["dimension"])
                    scores.setdefault(cell, []).append(float(row["score"]))
        by_unit: dict[str, list[float]] = {}
        for (unit, _, _), values in scores.items():
            by_unit.setdefault(unit, []).extend(values)
        return cls(
            cells={cell: says(statistics.median(v)) for cell, v in scores.items()},
            units={unit: says(statistics.median(v)) for unit, v in by_unit.items()},
        )

    def level(self, unit: str, capability: str, dimension: str) -> int:
        """The cell's level; else the unit's over every cell; else a plausible one."""
        return self.cells.get((unit, capability, dimension), self.units.get(unit, PLAUSIBLE_LEVEL))

    def answers(self, unit: str, *, blanks: np.random.Generator) -> Answering:
        """How a respondent of `unit` answers: the level of each cell, but for the share
        BLANK_SHARE of the questions, drawn from `blanks`, left blank."""

        def answer(capability: str, dimension: str) -> int | None:
            if blanks.random() < BLANK_SHARE:
                return None
            return self.level(unit, capability, dimension)

        return answer


def fill_questionnaire(sent: Path, target: Path, answer: Answering) -> Path:
    """Fill in the questionnaire `sent` as a respondent does in a spreadsheet program, the
    level `answer(capability, dimension)` gives in each Answer cell (None: left blank),
    and save it whole at `target`."""
    workbook = load_workbook(sent)
    sheet = workbook[QUESTIONNAIRE_SHEET]
    row = FIRST_QUESTION_ROW
    while capability := sheet[f"{CAPABILITY_COLUMN}{row}"].value:
        level = answer(str(capability), str(sheet[f"{DIMENSION_COLUMN}{row}"].value))
        if level is not None:
            sheet[f"{ANSWER_COLUMN}{row}"] = level
        row += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    workbook.save(partial)
    os.replace(partial, target)
    return target
