"""Who answers the survey: `BTM_HOME/respondents.yaml`, one entry per person with the
business unit they speak for, their role, name and e-mail address.

Checked on load; a mistake is reported with the line of the entry at fault (from PyYAML's
node marks), so a PMO editing a long list goes straight to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

import yaml

from btm.errors import ConfigurationError
from btm.resources import reread_when_changed
from btm.survey.bank import ROLES

RESPONDENTS_FILE = "respondents.yaml"
FIELDS = ("unit", "role", "name", "email")
ENTRY = "{unit: Retail Banking, role: pmo, name: Ana Lima, email: ana.lima@example.com}"
EXAMPLE = f"`respondents: [{ENTRY}]`"
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOT_IN_ID = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Respondent:
    unit: str  # a business unit as the evidence writes it, e.g. "Retail Banking"
    role: str  # one of ROLES
    name: str
    email: str

    @property
    def id(self) -> str:
        """Stable and safe in a file name: the e-mail address in lower case, each run of
        other characters than letters, digits, `.`, `_` and `-` made a `-`."""
        return _NOT_IN_ID.sub("-", self.email.lower())


def load_respondents(path: Path) -> tuple[Respondent, ...]:
    """The respondents listed in `path` (normally `BTM_HOME/respondents.yaml`), in file
    order, or a ConfigurationError naming the file, the line at fault and the fix."""
    return _load(path)


@reread_when_changed
def _load(path: Path) -> tuple[Respondent, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"{path}: not found; create it listing who answers the survey, e.g. {EXAMPLE}"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    return parse_respondents(path, text)


def parse_respondents(path: Path, text: str) -> tuple[Respondent, ...]:
    """The respondents in `text`, the content of `path`."""
    loader = yaml.SafeLoader(text)
    loader.name = str(path)  # for the marks of a syntax error
    try:
        root = loader.get_single_node()
        entries = _entry_nodes(path, root)
        found = [_respondent(path, loader, node) for node in entries]
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    _check_unique(path, found)
    return tuple(respondent for respondent, _ in found)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _entry_nodes(path: Path, root: yaml.Node | None) -> list[yaml.Node]:
    """The nodes of the entries under `respondents:`."""
    if not isinstance(root, yaml.MappingNode):
        line = _line(root) if root is not None else 1
        raise ConfigurationError(
            f"{path}, line {line}: not a mapping with a `respondents:` list; write it as {EXAMPLE}"
        )
    entries: yaml.Node | None = None
    for key, value in root.value:
        if key.value != "respondents":
            raise ConfigurationError(
                f"{path}, line {_line(key)}: unknown key {key.value!r}; the file holds only "
                f"a `respondents:` list, e.g. {EXAMPLE}"
            )
        entries = value
    if not isinstance(entries, yaml.SequenceNode) or not entries.value:
        line = _line(entries) if entries is not None else _line(root)
        raise ConfigurationError(
            f"{path}, line {line}: no `respondents:` list; list each respondent as an entry, "
            f"e.g. {EXAMPLE}"
        )
    return list(entries.value)


def _respondent(path: Path, loader: yaml.SafeLoader, node: yaml.Node) -> tuple[Respondent, int]:
    """One entry as a Respondent, with its line."""
    line = _line(node)
    at = f"{path}, line {line}"
    if not isinstance(node, yaml.MappingNode):
        raise ConfigurationError(
            f"{at}: a respondent must be a mapping of {', '.join(FIELDS)}, e.g. {ENTRY}"
        )
    values: dict[str, str] = {}
    for key_node, value_node in node.value:
        key = str(loader.construct_object(key_node))
        if key not in FIELDS:
            raise ConfigurationError(
                f"{at}: unknown field {key!r}; a respondent has only {', '.join(FIELDS)}"
            )
        if key in values:
            raise ConfigurationError(f"{at}: {key} is given twice; keep one")
        if not isinstance(value_node, yaml.ScalarNode):
            raise ConfigurationError(f"{at}: {key} must be plain text, not a list or mapping")
        value = loader.construct_object(value_node)
        values[key] = "" if value is None else str(value).strip()
    for field in FIELDS:
        if not values.get(field):
            raise ConfigurationError(
                f"{at}: {field} is {'empty' if field in values else 'missing'}; "
                f"fill in the {field} of every respondent"
            )
    if values["role"] not in ROLES:
        raise ConfigurationError(
            f"{at}: role {values['role']!r} is not a survey role; use one of {', '.join(ROLES)}"
        )
    email = values["email"]
    if parseaddr(email)[1] != email or not _ADDRESS.match(email):
        raise ConfigurationError(
            f"{at}: email {email!r} is not an e-mail address; write the bare address, "
            "e.g. ana.lima@example.com"
        )
    return Respondent(**values), line


def _check_unique(path: Path, found: list[tuple[Respondent, int]]) -> None:
    """No address twice, nor two addresses that make the same id (the workbooks are
    named by it)."""
    by_email: dict[str, int] = {}
    by_id: dict[str, tuple[str, int]] = {}
    for respondent, line in found:
        email = respondent.email.lower()
        if email in by_email:
            raise ConfigurationError(
                f"{path}, lines {by_email[email]} and {line}: {respondent.email} is listed "
                "twice; keep one entry per person (one unit and role each)"
            )
        by_email[email] = line
        if respondent.id in by_id:
            other, first = by_id[respondent.id]
            raise ConfigurationError(
                f"{path}, lines {first} and {line}: {other} and {respondent.email} make the "
                f"same respondent id {respondent.id!r}; use addresses that differ in more "
                "than punctuation"
            )
        by_id[respondent.id] = (respondent.email, line)
