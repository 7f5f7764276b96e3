"""The respondents file: read in file order, each respondent with a stable id; every
mistake is refused naming the file, the line of the entry at fault and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from btm.errors import ConfigurationError
from btm.survey import RESPONDENTS_FILE, Respondent, load_respondents


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / RESPONDENTS_FILE
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigurationError) as refused:
        load_respondents(path)
    message = str(refused.value)
    assert message.startswith(f"{path}")
    return message


def test_the_respondents_load_in_file_order_in_either_style(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# who answers the 2027 survey\n"
        "respondents:\n"
        "  - {unit: Retail Banking, role: pmo, name: Ana Lima, email: ana.lima@example.com}\n"
        "  - unit: Corporate Banking\n"
        "    role: executive\n"
        '    name: "  Bruno O\'Neil "\n'
        "    email: Bruno.ONeil+survey@Example.co.uk\n",
    )

    assert load_respondents(path) == (
        Respondent(
            unit="Retail Banking", role="pmo", name="Ana Lima", email="ana.lima@example.com"
        ),
        Respondent(
            unit="Corporate Banking",
            role="executive",
            name="Bruno O'Neil",
            email="Bruno.ONeil+survey@Example.co.uk",
        ),
    )


def test_the_id_is_a_lower_case_file_name_safe_slug_of_the_email() -> None:
    def of(email: str) -> str:
        return Respondent(unit="u", role="pmo", name="n", email=email).id

    assert of("ana.lima@example.com") == "ana.lima-example.com"
    assert of("Bruno.ONeil+survey@Example.co.uk") == "bruno.oneil-survey-example.co.uk"
    assert of("o'brien@x.org") == "o-brien-x.org"


def test_an_edit_is_seen_on_the_next_load(tmp_path: Path) -> None:
    entry = "  - {unit: Retail Banking, role: %s, name: Ana Lima, email: ana@example.com}\n"
    path = _write(tmp_path, "respondents:\n" + entry % "pmo")
    assert load_respondents(path)[0].role == "pmo"

    _write(tmp_path, "respondents:\n" + entry % "business")
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    assert load_respondents(path)[0].role == "business"


def test_a_missing_file_says_where_to_create_it_with_an_example(tmp_path: Path) -> None:
    path = tmp_path / "home" / RESPONDENTS_FILE
    with pytest.raises(ConfigurationError) as refused:
        load_respondents(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: not found; create it")
    assert message.endswith(
        "e.g. `respondents: [{unit: Retail Banking, role: pmo, name: Ana Lima, "
        "email: ana.lima@example.com}]`"
    )
    assert "\n" not in message


ANA = "  - {unit: Retail Banking, role: pmo, name: Ana Lima, email: ana.lima@example.com}\n"

# Each case: the file, the line named, and what the message says to do.
BROKEN: dict[str, tuple[str, int, str]] = {
    "a list, not a mapping": (
        "# respondents\n- Ana Lima\n",
        2,
        "not a mapping with a `respondents:` list",
    ),
    "an empty file": ("", 1, "not a mapping with a `respondents:` list"),
    "no respondents list": (
        "# nobody yet\n\nrespondents: {}\n",
        3,
        "no `respondents:` list; list each respondent",
    ),
    "an empty respondents list": ("\nrespondents: []\n", 2, "no `respondents:` list"),
    "another top-level key": (
        "respondents:\n" + ANA + "campaign: 2027\n",
        3,
        "unknown key 'campaign'; the file holds only a `respondents:` list",
    ),
    "an entry that is not a mapping": (
        "respondents:\n" + ANA + "  - Bruno O'Neil\n",
        3,
        "a respondent must be a mapping of unit, role, name, email",
    ),
    "a missing field": (
        "respondents:\n" + ANA + "  - {unit: Retail Banking, role: pmo, name: Bruno}\n",
        3,
        "email is missing; fill in the email of every respondent",
    ),
    "an empty field, in block style": (
        "respondents:\n"
        + ANA
        + "\n"
        + "  - unit: Retail Banking\n"
        + "    role: business\n"
        + "    name: ''\n"
        + "    email: bruno@example.com\n",
        4,
        "name is empty; fill in the name of every respondent",
    ),
    "a null field": (
        "respondents:\n  - {unit: ~, role: pmo, name: Ana Lima, email: ana@example.com}\n",
        2,
        "unit is empty",
    ),
    "an unknown field": (
        "respondents:\n"
        + ANA
        + ANA.replace("ana.lima", "bruno").replace("}", ", phone: 555}")
        + ANA.replace("ana.lima", "carla"),
        3,
        "unknown field 'phone'; a respondent has only unit, role, name, email",
    ),
    "a field given twice": (
        "respondents:\n  - {unit: A, role: pmo, role: business, name: N, email: n@x.org}\n",
        2,
        "role is given twice",
    ),
    "a field that is a list": (
        "respondents:\n  - {unit: [A, B], role: pmo, name: N, email: n@x.org}\n",
        2,
        "unit must be plain text",
    ),
    "an unknown role": (
        "respondents:\n" + ANA + ANA.replace("pmo", "auditor").replace("ana.lima", "b"),
        3,
        "role 'auditor' is not a survey role; use one of executive, business, technology, pmo",
    ),
    "an email without a domain": (
        "respondents:\n" + ANA.replace("ana.lima@example.com", "ana.lima"),
        2,
        "email 'ana.lima' is not an e-mail address; write the bare address",
    ),
    "an email without a dot in the domain": (
        "respondents:\n" + ANA.replace("example.com", "example"),
        2,
        "email 'ana.lima@example' is not an e-mail address",
    ),
    "an email with a display name": (
        "respondents:\n" + ANA.replace("ana.lima@example.com", "'Ana <ana@example.com>'"),
        2,
        "email 'Ana <ana@example.com>' is not an e-mail address; write the bare address",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_is_refused_naming_the_line_and_the_fix(tmp_path: Path, case: str) -> None:
    text, line, expected = BROKEN[case]
    message = _refusal(tmp_path, text)

    assert message.startswith(f"{tmp_path / RESPONDENTS_FILE}, line {line}: "), message
    assert expected in message


def test_the_same_email_twice_names_both_lines(tmp_path: Path) -> None:
    text = (
        "respondents:\n"
        + ANA
        + ANA.replace("ana.lima", "bruno")
        + "  # Ana again, for another unit\n"
        + ANA.replace("Retail", "Corporate").replace("ana.lima", "Ana.Lima")
    )
    message = _refusal(tmp_path, text)

    assert message.startswith(f"{tmp_path / RESPONDENTS_FILE}, lines 2 and 5: ")
    assert "Ana.Lima@example.com is listed twice; keep one entry per person" in message


def test_two_emails_that_make_the_same_id_name_both_lines(tmp_path: Path) -> None:
    text = (
        "respondents:\n" + ANA.replace("ana.lima", "ana+lima") + ANA.replace("ana.lima", "ana-lima")
    )
    message = _refusal(tmp_path, text)

    assert message.startswith(f"{tmp_path / RESPONDENTS_FILE}, lines 2 and 3: ")
    assert "make the same respondent id 'ana-lima-example.com'" in message


def test_a_file_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    message = _refusal(tmp_path, "respondents:\n" + ANA + "  - {unit: Retail, role: pmo\n")

    assert "not valid YAML" in message
    assert f'in "{tmp_path / RESPONDENTS_FILE}", line 3, column 5' in message
