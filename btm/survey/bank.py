"""The survey's question bank: for every capability x dimension of the catalogue, the
question a respondent answers, what each level 1 to 5 looks like for it, and which roles
answer it.

Read from `btm/data/survey.yaml`, or the PMO's `BTM_HOME/survey.yaml`, which replaces it;
checked against the catalogue in use, so a bank that misses a cell, names a capability
the catalogue lacks or leaves a question to nobody is refused with the entry at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from btm.catalog import Catalog, label, load_catalog, read_yaml
from btm.errors import ConfigurationError
from btm.resources import DATA_DIR, data_file, reread_when_changed

SURVEY_FILE = DATA_DIR / "survey.yaml"

# Who answers the survey: the `respondent_role` values of survey evidence, in the order
# the catalogue's `survey_roles` lists them (a test keeps the two equal).
ROLES: tuple[str, ...] = ("executive", "business", "technology", "pmo")

# What a role's entry under `roles:` may list; a role answers a question whose area,
# capability or dimension it lists.
SELECTORS = ("areas", "capabilities", "dimensions")
CELL_KEYS = frozenset({"question", "descriptors"})


@dataclass(frozen=True)
class Question:
    capability: str  # "MTI-2"
    capability_name: str  # from the catalogue
    dimension: str  # "process" | "organization" | "information" | "technology"
    text: str  # the question
    descriptors: tuple[str, str, str, str, str]  # what levels 1 to 5 look like
    roles: tuple[str, ...]  # the roles that answer it, in ROLES order

    @property
    def key(self) -> str:
        return f"{self.capability}/{self.dimension}"


@dataclass(frozen=True)
class QuestionBank:
    version: str
    questions: tuple[Question, ...]  # catalogue order: capabilities, then dimensions
    path: Path = SURVEY_FILE  # where it was read from, for messages

    def for_role(self, role: str) -> tuple[Question, ...]:
        """The questions `role` answers, in catalogue order."""
        if role not in ROLES:
            raise ConfigurationError(
                f"{role!r} is not a survey role; use one of {', '.join(ROLES)}"
            )
        return tuple(q for q in self.questions if role in q.roles)

    def question(self, capability: str, dimension: str) -> Question:
        """The question of one cell; KeyError when the bank has none."""
        for question in self.questions:
            if question.capability == capability and question.dimension == dimension:
                return question
        raise KeyError(f"{label(self.path)} has no question for {capability}/{dimension}")


def load_bank(home: Path | None = None, *, catalog: Catalog | None = None) -> QuestionBank:
    """The question bank: `home/survey.yaml` when the PMO keeps one, else the shipped file,
    checked against `catalog` (default: the home's catalogue, the shipped one when the
    home has none)."""
    catalog = catalog or load_catalog(data_file("catalog.yaml", home))
    return _load(data_file(SURVEY_FILE.name, home), catalog)


@reread_when_changed
def _load(path: Path, catalog: Catalog) -> QuestionBank:
    return build_bank(path, read_yaml(path), catalog)


def build_bank(path: Path, raw: Any, catalog: Catalog) -> QuestionBank:
    """The bank in the parsed document `raw` read from `path`, or a ConfigurationError
    naming the file, the entry at fault and the fix."""
    where = label(path)
    if not isinstance(raw, dict) or not {"version", "roles", "questions"} <= raw.keys():
        raise ConfigurationError(
            f"{where}: malformed question bank; it must be a mapping with `version`, "
            "`roles` (who answers what) and `questions` (capability -> dimension -> "
            "question and descriptors), as in the shipped btm/data/survey.yaml"
        )
    version = str(raw["version"] or "").strip()
    if not version:
        raise ConfigurationError(
            f'{where}: `version` is empty; give the bank a version, e.g. "2027.1"'
        )
    answered_by = _roles(where, raw["roles"], catalog)
    cells = _cells(where, raw["questions"], catalog)
    questions = []
    for capability in catalog.capabilities:
        for dimension in catalog.dimension_ids:
            text, descriptors = cells[capability.id, dimension]
            roles = tuple(
                role
                for role in ROLES
                if any(
                    value in answered_by.get(role, ())
                    for value in (capability.area, capability.id, dimension)
                )
            )
            if not roles:
                raise ConfigurationError(
                    f"{where}: questions.{capability.id}.{dimension} is answered by no role; "
                    f"list its area {capability.area}, its capability or its dimension under "
                    "a role in `roles`"
                )
            questions.append(
                Question(
                    capability=capability.id,
                    capability_name=capability.name,
                    dimension=dimension,
                    text=text,
                    descriptors=descriptors,
                    roles=roles,
                )
            )
    return QuestionBank(version=version, questions=tuple(questions), path=path)


def _roles(where: str, raw: Any, catalog: Catalog) -> dict[str, set[str]]:
    """Each role's areas, capabilities and dimensions, as one set of ids."""
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"{where}: `roles` must map each role to the areas, capabilities or dimensions "
            "it answers, e.g. `executive: {areas: [GO, SP]}`"
        )
    known = {
        "areas": [a.id for a in catalog.areas],
        "capabilities": catalog.capability_ids,
        "dimensions": catalog.dimension_ids,
    }
    answered_by: dict[str, set[str]] = {}
    for role, entry in raw.items():
        if role not in ROLES:
            raise ConfigurationError(
                f"{where}: roles.{role} is not a survey role; use one of {', '.join(ROLES)}"
            )
        if not isinstance(entry, dict) or not entry or not entry.keys() <= set(SELECTORS):
            raise ConfigurationError(
                f"{where}: roles.{role} must list some of {', '.join(SELECTORS)}, e.g. "
                f"`{role}: {{areas: [GO, SP], dimensions: [information]}}`"
            )
        ids: set[str] = set()
        for selector, values in entry.items():
            if not isinstance(values, list):
                raise ConfigurationError(
                    f"{where}: roles.{role}.{selector} must be a list, e.g. [{known[selector][0]}]"
                )
            for value in map(str, values):
                if value not in known[selector]:
                    raise ConfigurationError(
                        f"{where}: roles.{role}.{selector} names {value!r}, which is not in "
                        f"the catalogue; use {', '.join(known[selector])}"
                    )
                ids.add(value)
        answered_by[role] = ids
    return answered_by


def _cells(
    where: str, raw: Any, catalog: Catalog
) -> dict[tuple[str, str], tuple[str, tuple[str, str, str, str, str]]]:
    """The question and descriptors of every cell, by (capability, dimension)."""
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"{where}: `questions` must map each capability id to its dimensions"
        )
    for capability in raw:
        if capability not in catalog.capability_ids:
            raise ConfigurationError(
                f"{where}: questions.{capability} is not a capability of the catalogue; "
                f"use one of {', '.join(catalog.capability_ids)}, or remove it"
            )
    cells = {}
    for capability in catalog.capability_ids:
        by_dimension = raw.get(capability)
        if not isinstance(by_dimension, dict):
            raise ConfigurationError(
                f"{where}: questions.{capability} is missing; add it with a question and 5 "
                f"descriptors for each of {', '.join(catalog.dimension_ids)}"
            )
        for dimension in by_dimension:
            if dimension not in catalog.dimension_ids:
                raise ConfigurationError(
                    f"{where}: questions.{capability}.{dimension} is not a dimension of the "
                    f"catalogue; use {', '.join(catalog.dimension_ids)}"
                )
        for dimension in catalog.dimension_ids:
            cell = f"questions.{capability}.{dimension}"
            cells[capability, dimension] = _cell(where, cell, by_dimension.get(dimension))
    return cells


def _cell(where: str, cell: str, raw: Any) -> tuple[str, tuple[str, str, str, str, str]]:
    if raw is None:
        raise ConfigurationError(
            f"{where}: {cell} is missing; add its `question` and `descriptors`, "
            "one per level 1 to 5"
        )
    if not isinstance(raw, dict) or not raw.keys() <= CELL_KEYS:
        raise ConfigurationError(
            f"{where}: {cell} must be a mapping with only `question` and `descriptors`"
        )
    text = str(raw.get("question") or "").strip()
    if not text:
        raise ConfigurationError(
            f"{where}: {cell}.question is empty; write the question a respondent answers"
        )
    descriptors = raw.get("descriptors")
    if not isinstance(descriptors, list) or len(descriptors) != 5:
        found = f"{len(descriptors)} entries" if isinstance(descriptors, list) else "no list"
        raise ConfigurationError(
            f"{where}: {cell}.descriptors has {found}; give exactly 5, what levels 1 to 5 "
            "look like, in order, each opening with the level's name"
        )
    texts = [str(d or "").strip() for d in descriptors]
    for level, descriptor in enumerate(texts, start=1):
        if not descriptor:
            raise ConfigurationError(
                f"{where}: {cell}.descriptors level {level} is empty; say what level "
                f"{level} looks like for this cell"
            )
    return text, (texts[0], texts[1], texts[2], texts[3], texts[4])
