"""The question bank: the shipped one covers every cell of the catalogue in its words and
gives every role its questions; a PMO's copy in BTM_HOME replaces it; a broken bank is
refused naming the file, the cell and the fix."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from btm.catalog import load_catalog
from btm.errors import ConfigurationError
from btm.survey import ROLES, QuestionBank, load_bank
from btm.survey.bank import SURVEY_FILE

CATALOG = load_catalog()
SHIPPED: dict[str, Any] = yaml.safe_load(SURVEY_FILE.read_text(encoding="utf-8"))
AREA = {c.id: c.area for c in CATALOG.capabilities}


def _write_bank(home: Path, document: object) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "survey.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _areas_and_dimensions(bank: QuestionBank, role: str) -> set[tuple[str, str]]:
    return {(AREA[q.capability], q.dimension) for q in bank.for_role(role)}


# the shipped bank ---------------------------------------------------------------------


def test_the_shipped_bank_has_a_question_for_every_cell_in_catalogue_order() -> None:
    bank = load_bank()

    assert bank.version == "2027.1"
    assert bank.path == SURVEY_FILE
    assert len(bank.questions) == 68
    assert [q.key for q in bank.questions] == [
        f"{c}/{d}" for c in CATALOG.capability_ids for d in CATALOG.dimension_ids
    ]
    names = {c.id: c.name for c in CATALOG.capabilities}
    assert all(q.capability_name == names[q.capability] for q in bank.questions)
    assert all(q.text.endswith("?") for q in bank.questions)


def test_every_descriptor_opens_with_its_level_name_and_says_something_of_its_own() -> None:
    bank = load_bank()
    for question in bank.questions:
        assert len(question.descriptors) == 5
        for level, descriptor in zip(CATALOG.levels, question.descriptors, strict=True):
            assert descriptor.startswith(f"{level.name}: "), (question.key, descriptor)
            assert len(descriptor) > len(level.name) + 30, (question.key, descriptor)
        assert len(set(question.descriptors)) == 5, question.key
    # descriptors are made concrete for the cell: no two cells share a level's text
    for n in range(5):
        texts = [q.descriptors[n] for q in bank.questions]
        assert len(set(texts)) == len(texts)


def test_a_descriptor_speaks_in_the_words_of_its_level_and_its_cell() -> None:
    question = load_bank().question("MTI-2", "information")

    assert question.capability_name == "Portfolio management"
    assert question.descriptors[1].startswith(
        "Limited: portfolio information is gathered for major decisions only;"
    )
    assert "threshold of synchronization" in question.descriptors[3]


def test_the_roles_are_the_catalogues_survey_roles() -> None:
    assert tuple(CATALOG.survey_roles) == ROLES


def test_every_role_has_questions_and_every_question_a_role_in_roles_order() -> None:
    bank = load_bank()
    for role in ROLES:
        assert bank.for_role(role), role
    for question in bank.questions:
        assert question.roles
        assert list(question.roles) == [r for r in ROLES if r in question.roles]


def test_the_documented_role_mapping() -> None:
    bank = load_bank()
    every = {(AREA[c], d) for c in CATALOG.capability_ids for d in CATALOG.dimension_ids}

    assert _areas_and_dimensions(bank, "executive") == {
        (a, d) for a, d in every if a in ("GO", "SP")
    }
    assert _areas_and_dimensions(bank, "business") == {
        (a, d) for a, d in every if a in ("MTI", "SP")
    }
    assert _areas_and_dimensions(bank, "technology") == {
        (a, d) for a, d in every if a == "SEA" or d in ("information", "technology")
    }
    assert bank.for_role("pmo") == bank.questions
    assert len(bank.for_role("executive")) == 8 * 4
    assert len(bank.for_role("technology")) == 5 * 4 + 12 * 2
    assert bank.question("GO-1", "process").roles == ("executive", "pmo")
    assert bank.question("SP-2", "technology").roles == ROLES


def test_asking_for_an_unknown_cell_or_role() -> None:
    bank = load_bank()
    with pytest.raises(KeyError, match="MTI-9/process"):
        bank.question("MTI-9", "process")
    with pytest.raises(ConfigurationError, match="use one of executive, business, technology"):
        bank.for_role("auditor")


# a PMO's own bank ---------------------------------------------------------------------


def test_a_bank_in_btm_home_replaces_the_shipped_one_and_an_edit_is_seen(tmp_path: Path) -> None:
    own = copy.deepcopy(SHIPPED)
    own["version"] = "2099.1"
    own["questions"]["GO-4"]["process"]["question"] = "How does your unit tell its story?"
    own["roles"]["executive"] = {"capabilities": ["GO-1"]}
    path = _write_bank(tmp_path, own)

    bank = load_bank(tmp_path)
    assert (bank.version, bank.path) == ("2099.1", path)
    assert bank.question("GO-4", "process").text == "How does your unit tell its story?"
    assert {q.capability for q in bank.for_role("executive")} == {"GO-1"}
    assert load_bank().version == "2027.1"  # without a home, the shipped bank

    own["version"] = "2099.2"
    _write_bank(tmp_path, own)
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    assert load_bank(tmp_path).version == "2099.2"


def test_a_home_without_a_bank_gets_the_shipped_one(tmp_path: Path) -> None:
    assert load_bank(tmp_path).path == SURVEY_FILE


def test_the_bank_is_checked_against_the_homes_catalogue(tmp_path: Path) -> None:
    catalogue = yaml.safe_load((CATALOG.path).read_text(encoding="utf-8"))
    catalogue["capabilities"] = [c for c in catalogue["capabilities"] if c["id"] != "SEA-5"]
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalogue), encoding="utf-8")

    with pytest.raises(ConfigurationError) as refused:
        load_bank(tmp_path)
    assert "btm/data/survey.yaml: questions.SEA-5 is not a capability of the catalogue" in str(
        refused.value
    )

    own = copy.deepcopy(SHIPPED)
    del own["questions"]["SEA-5"]
    _write_bank(tmp_path, own)
    assert len(load_bank(tmp_path).questions) == 64


# a broken bank --------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], object]


def _set(document: dict[str, Any], dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        document = document[key]
    document[last] = value


BROKEN: dict[str, tuple[Edit, str]] = {
    "a missing cell": (
        lambda d: d["questions"]["MTI-2"].pop("information"),
        "questions.MTI-2.information is missing; add its `question` and `descriptors`",
    ),
    "a missing capability": (
        lambda d: d["questions"].pop("GO-4"),
        "questions.GO-4 is missing; add it with a question and 5 descriptors",
    ),
    "an unknown capability": (
        lambda d: _set(d, "questions.XYZ-1", d["questions"]["GO-1"]),
        "questions.XYZ-1 is not a capability of the catalogue; use one of GO-1",
    ),
    "an unknown dimension": (
        lambda d: _set(d, "questions.SP-1.people", d["questions"]["SP-1"]["process"]),
        "questions.SP-1.people is not a dimension of the catalogue; use process, organization",
    ),
    "four descriptors": (
        lambda d: d["questions"]["SP-3"]["technology"]["descriptors"].pop(),
        "questions.SP-3.technology.descriptors has 4 entries; give exactly 5",
    ),
    "six descriptors": (
        lambda d: d["questions"]["SEA-2"]["process"]["descriptors"].append("Beyond: more"),
        "questions.SEA-2.process.descriptors has 6 entries; give exactly 5",
    ),
    "descriptors that are no list": (
        lambda d: _set(d, "questions.GO-2.information.descriptors", "Disaggregated: x"),
        "questions.GO-2.information.descriptors has no list; give exactly 5",
    ),
    "an empty descriptor": (
        lambda d: d["questions"]["MTI-3"]["organization"]["descriptors"].__setitem__(2, " "),
        "questions.MTI-3.organization.descriptors level 3 is empty",
    ),
    "an empty question": (
        lambda d: _set(d, "questions.GO-1.process.question", "  "),
        "questions.GO-1.process.question is empty; write the question",
    ),
    "a missing question": (
        lambda d: d["questions"]["SEA-4"]["organization"].pop("question"),
        "questions.SEA-4.organization.question is empty",
    ),
    "an unknown key in a cell": (
        lambda d: _set(d, "questions.MTI-4.process.levels", []),
        "questions.MTI-4.process must be a mapping with only `question` and `descriptors`",
    ),
    "an unknown role": (
        lambda d: _set(d, "roles.auditor", {"areas": ["GO"]}),
        "roles.auditor is not a survey role; use one of executive, business, technology, pmo",
    ),
    "an unknown area for a role": (
        lambda d: _set(d, "roles.executive.areas", ["GO", "HR"]),
        "roles.executive.areas names 'HR', which is not in the catalogue; use GO, MTI, SP, SEA",
    ),
    "an unknown selector for a role": (
        lambda d: _set(d, "roles.business", {"units": ["Retail"]}),
        "roles.business must list some of areas, capabilities, dimensions",
    ),
    "a question nobody answers": (
        lambda d: [d["roles"].pop("pmo"), d["roles"].pop("business")],
        "questions.MTI-1.process is answered by no role; list its area MTI",
    ),
    "no version": (
        lambda d: d.pop("version"),
        "malformed question bank; it must be a mapping with `version`",
    ),
    "an empty version": (
        lambda d: _set(d, "version", ""),
        "`version` is empty",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_bank_is_refused_naming_the_file_the_cell_and_the_fix(
    tmp_path: Path, case: str
) -> None:
    edit, expected = BROKEN[case]
    document = copy.deepcopy(SHIPPED)
    edit(document)
    path = _write_bank(tmp_path, document)

    with pytest.raises(ConfigurationError) as refused:
        load_bank(tmp_path)
    assert str(refused.value).startswith(f"{path}: ")
    assert expected in str(refused.value)


def test_a_bank_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "survey.yaml").write_text('version: "1"\nroles: [executive\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid YAML") as refused:
        load_bank(tmp_path)
    assert str(tmp_path / "survey.yaml") in str(refused.value)
    assert "line 3" in str(refused.value)
