"""The BTM Standard as data: areas, capabilities, dimensions, levels and states, and
the sources each of their texts comes from.

Loaded from `btm/data/catalog.yaml` (or a PMO's edited copy); no capability name or
level text is written in code. Every text cites a declared source (`provenance`), so a
PMO can defend the model as well as the scores; `model_markdown` is the catalogue as the
reference `docs/model.md`, which a test keeps equal to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from btm.errors import ConfigurationError
from btm.resources import DATA_DIR, reread_when_changed

CATALOG_FILE = DATA_DIR / "catalog.yaml"
# libyaml's safe loader, where PyYAML was built with it, reads the data files several
# times faster into the same values. It words its errors otherwise, so a file it refuses
# is read again by the pure-Python loader, whose message names the line and shows it.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Read a YAML data file, turning every failure into a ConfigurationError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc


@dataclass(frozen=True)
class Source:
    """Where texts of the catalogue come from: a publication, or this project's choice."""

    id: str
    cite: str  # the citation as a reader looks it up
    description: str = ""  # what the catalogue takes from it


# What a text is attributed to when a PMO's copy of the catalogue cites nothing; a copy
# may also name it for the texts it rewords.
PMO_SOURCE = Source(id="pmo", cite="Edited by the PMO in BTM_HOME/catalog.yaml")

# The provenance of an entry maps each of its texts to a source id. It is left out of the
# hash (a mapping has none), so entries and the catalogue stay hashable.
Provenance = Mapping[str, str]


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    provenance: Provenance = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Capability:
    id: str
    area: str
    name: str
    covers: str
    provenance: Provenance = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    covers: str
    provenance: Provenance = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Level:
    level: int
    name: str
    text: str
    provenance: Provenance = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class State:
    id: str
    name: str
    text: str
    target_level: int
    provenance: Provenance = field(default_factory=dict, hash=False)


Entry = Area | Capability | Dimension | Level | State
E = TypeVar("E", Area, Capability, Dimension, Level, State)

# Each section of the file: the key naming an entry in messages, and the values of an
# entry that must cite a source (its texts, and a state's target level, a project choice).
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "areas": ("id", ("name",)),
    "capabilities": ("id", ("name", "covers")),
    "dimensions": ("id", ("name", "covers")),
    "levels": ("level", ("name", "text")),
    "states": ("id", ("name", "text", "target_level")),
}


@dataclass(frozen=True)
class Catalog:
    areas: tuple[Area, ...]
    capabilities: tuple[Capability, ...]
    dimensions: tuple[Dimension, ...]
    levels: tuple[Level, ...]
    states: tuple[State, ...]
    survey_roles: tuple[str, ...]  # who answers the self-assessment survey
    sources: tuple[Source, ...] = ()  # what the provenance of the entries names
    path: Path = CATALOG_FILE  # where it was read from, for messages

    def capability(self, capability_id: str) -> Capability:
        for capability in self.capabilities:
            if capability.id == capability_id:
                return capability
        known = ", ".join(c.id for c in self.capabilities)
        raise ConfigurationError(f"unknown capability {capability_id!r}; known: {known}")

    def state_id(self, state: str, *, setting: str = "BTM_TARGET_STATE") -> str:
        """The id of a target state named in any case, or a ConfigurationError naming the
        setting it came from and the allowed states."""
        allowed = [s.id for s in self.states]
        if (wanted := str(state).strip().lower()) in allowed:
            return wanted
        raise ConfigurationError(
            f"{setting}={state!r} is not a state of {label(self.path)}; "
            f"set it to one of {', '.join(allowed)}"
        )

    @property
    def level_numbers(self) -> tuple[int, ...]:
        """The maturity levels, lowest first (1 to 5 in the Standard)."""
        return tuple(lv.level for lv in self.levels)

    @property
    def lowest_level(self) -> int:
        return self.levels[0].level

    @property
    def highest_level(self) -> int:
        return self.levels[-1].level

    def area_of(self, capability_id: str) -> Area:
        area_id = self.capability(capability_id).area
        return next(a for a in self.areas if a.id == area_id)

    @property
    def capability_ids(self) -> list[str]:
        return [c.id for c in self.capabilities]

    @property
    def dimension_ids(self) -> list[str]:
        return [d.id for d in self.dimensions]

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        known = ", ".join(s.id for s in self.sources)
        raise ConfigurationError(f"unknown source {source_id!r}; known: {known}")

    def cite(self, entry: Entry) -> tuple[str, ...]:
        """Where the texts of `entry` come from, one line per source in the order of the
        texts: `name: <citation>`, `name, covers: <citation>` when they share one."""
        fields_of: dict[str, list[str]] = {}
        for text, source_id in entry.provenance.items():
            fields_of.setdefault(source_id, []).append(text)
        return tuple(
            f"{', '.join(texts)}: {self.source(source_id).cite}"
            for source_id, texts in fields_of.items()
        )


def _build(path: Path, raw: Any, require_provenance: bool) -> Catalog:
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"{path}: malformed catalogue; it must be a mapping with areas, capabilities, "
            "dimensions, levels, states and survey_roles"
        )
    declared = _sources(path, raw, require_provenance)
    # A PMO's copy that cites nothing at all is the PMO's throughout; any other file
    # cites a source for every text, `pmo` being known without being declared.
    the_pmos = declared is None
    known = dict(declared or {})
    known.setdefault(PMO_SOURCE.id, PMO_SOURCE)
    try:
        areas = _entries(path, raw, "areas", Area, known, the_pmos)
        capabilities = _entries(path, raw, "capabilities", Capability, known, the_pmos)
        dimensions = _entries(path, raw, "dimensions", Dimension, known, the_pmos)
        levels = _entries(path, raw, "levels", Level, known, the_pmos)
        states = _entries(path, raw, "states", State, known, the_pmos)
        survey_roles = tuple(str(r) for r in raw["survey_roles"])
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"{path}: malformed catalogue ({exc}); each of areas, capabilities, dimensions, "
            "levels, states and survey_roles must be a list of entries with the documented keys"
        ) from exc
    entries: tuple[Entry, ...] = (*areas, *capabilities, *dimensions, *levels, *states)
    cited = {source_id for entry in entries for source_id in entry.provenance.values()}
    catalog = Catalog(
        areas=areas,
        capabilities=capabilities,
        dimensions=dimensions,
        levels=levels,
        states=states,
        survey_roles=survey_roles,
        sources=tuple(s for s in known.values() if s.id in (declared or {}) or s.id in cited),
        path=path,
    )
    area_ids = {a.id for a in catalog.areas}
    for capability in catalog.capabilities:
        if capability.area not in area_ids:
            raise ConfigurationError(
                f"{path}: capability {capability.id} names unknown area {capability.area!r}"
            )
    if [lv.level for lv in catalog.levels] != [1, 2, 3, 4, 5]:
        raise ConfigurationError(f"{path}: levels must be exactly 1 to 5, in order")
    return catalog


def _sources(path: Path, raw: dict[str, Any], require_provenance: bool) -> dict[str, Source] | None:
    """The declared sources by id; None for a PMO's copy that cites nothing (no `sources`
    and no `provenance` anywhere)."""
    declared = raw.get("sources")
    if declared is None:
        if require_provenance:
            raise ConfigurationError(
                f"{label(path)}: no `sources` list; declare the sources the texts cite, "
                "each with an id and a cite, and give every entry its `provenance`"
            )
        cites_something = any(
            isinstance(entry, dict) and "provenance" in entry
            for section in SECTIONS
            for entry in raw.get(section) or ()
        )
        return {} if cites_something else None
    if not isinstance(declared, list):
        raise ConfigurationError(
            f"{label(path)}: `sources` must be a list of entries with an id and a cite"
        )
    found: dict[str, Source] = {}
    for n, entry in enumerate(declared):
        if not isinstance(entry, dict) or not {"id", "cite"} <= entry.keys():
            raise ConfigurationError(
                f"{label(path)}: sources[{n}] needs an id and a cite (and may have a description)"
            )
        try:
            source = Source(**{k: str(v) for k, v in entry.items()})
        except TypeError as exc:
            raise ConfigurationError(
                f"{label(path)}: sources[{n}] ({entry['id']}) has keys other than id, cite "
                "and description; remove them"
            ) from exc
        if source.id in found:
            raise ConfigurationError(
                f"{label(path)}: sources[{n}] repeats the id {source.id!r}; give each source "
                "its own id"
            )
        found[source.id] = source
    return found


def _entries(
    path: Path,
    raw: dict[str, Any],
    section: str,
    make: Callable[..., E],
    known: Mapping[str, Source],
    the_pmos: bool,
) -> tuple[E, ...]:
    """The entries of one section, each with the provenance of its texts."""
    key, cited = SECTIONS[section]
    entries = []
    for n, entry in enumerate(raw[section]):
        if not isinstance(entry, dict):
            raise TypeError(f"{section} entry {entry!r} is not a mapping")
        values = {k: v for k, v in entry.items() if k != "provenance"}
        if the_pmos:
            provenance = dict.fromkeys(cited, PMO_SOURCE.id)
        else:
            where = f"{section}.{entry[key]}" if key in entry else f"{section}[{n}]"
            where += ".provenance"
            provenance = _provenance_of(path, where, entry.get("provenance"), cited, known)
        entries.append(make(**values, provenance=provenance))
    return tuple(entries)


def _provenance_of(
    path: Path, where: str, given: Any, cited: tuple[str, ...], known: Mapping[str, Source]
) -> dict[str, str]:
    """`given` as text -> source id in the order of `cited`, or a ConfigurationError naming
    the entry at fault and what to write."""
    ids = ", ".join(known)
    example = "{" + ", ".join(f"{text}: <source id>" for text in cited) + "}"
    if given is None:
        raise ConfigurationError(
            f"{label(path)}: {where} is missing; cite the source of each of "
            f"{', '.join(cited)}, e.g. `provenance: {example}`, with ids from {ids}"
        )
    if not isinstance(given, dict):
        raise ConfigurationError(
            f"{label(path)}: {where} must map each of {', '.join(cited)} to a source id, "
            f"e.g. `provenance: {example}`"
        )
    for text in given:
        if text not in cited:
            raise ConfigurationError(
                f"{label(path)}: {where}.{text} is not a text of this entry; "
                f"cite only {', '.join(cited)}"
            )
    provenance = {}
    for text in cited:
        if text not in given:
            raise ConfigurationError(
                f"{label(path)}: {where}.{text} is missing; add `{text}: <source id>` "
                f"naming where its {text} comes from, one of {ids}"
            )
        if (source_id := str(given[text])) not in known:
            raise ConfigurationError(
                f"{label(path)}: {where}.{text} names unknown source {source_id!r}; use one "
                f"of {ids}, or declare it under `sources`"
            )
        provenance[text] = source_id
    return provenance


def load_catalog(path: Path = CATALOG_FILE, *, require_provenance: bool | None = None) -> Catalog:
    """The catalogue in `path` (the shipped one, or the PMO's `BTM_HOME/catalog.yaml`).

    Every text must cite a declared source; a PMO's copy may instead cite nothing at all
    (no `sources`, no `provenance`), and its texts are then the PMO's. The shipped file
    may not, nor any file when `require_provenance` is set."""
    if require_provenance is None:
        require_provenance = path.resolve() == CATALOG_FILE
    return _load(path, require_provenance)


@reread_when_changed
def _load(path: Path, require_provenance: bool) -> Catalog:
    return _build(path, read_yaml(path), require_provenance)


def label(path: Path) -> str:
    """A data file's name for messages: `btm/data/<name>` when shipped, else its path."""
    return f"btm/data/{path.name}" if path.parent == DATA_DIR else str(path)


# the reference: docs/model.md --------------------------------------------------------------


def model_markdown(catalog: Catalog) -> str:
    """The catalogue as the PMO's reference of the model: every area, capability,
    dimension, level and state with the source of each of its texts, then the sources."""
    header = [
        "# The model and where it comes from",
        "",
        f"Generated from `{label(catalog.path)}` by `btm.catalog.model_markdown`; do not",
        "edit by hand. Every name, scope and level text of the model cites the source it",
        "comes from (its `provenance` in the catalogue): the *from* columns give the id of",
        "a source, listed with its citation under [Sources](#sources).",
        "",
        "A PMO's own `BTM_HOME/catalog.yaml` cites its sources the same way. A text the",
        f'PMO rewords cites `{PMO_SOURCE.id}` ("{PMO_SOURCE.cite}"); a copy with',
        f"neither `sources` nor any `provenance` is attributed to `{PMO_SOURCE.id}` throughout.",
        "",
    ]
    sections = [
        header,
        _table("Areas", "areas", ("area", "name"), catalog.areas, lambda a: (a.id, a.name)),
        _table(
            "Capabilities",
            "capabilities",
            ("capability", "area", "name", "covers"),
            catalog.capabilities,
            lambda c: (c.id, c.area, c.name, c.covers),
        ),
        _table(
            "Dimensions (every capability is scored on each)",
            "dimensions",
            ("dimension", "name", "covers"),
            catalog.dimensions,
            lambda d: (d.id, d.name, d.covers),
        ),
        _table(
            "Maturity levels",
            "levels",
            ("level", "name", "text"),
            catalog.levels,
            lambda lv: (str(lv.level), lv.name, lv.text),
        ),
        _table(
            "States of the business-technology relationship",
            "states",
            ("state", "name", "text", "target level"),
            catalog.states,
            lambda s: (s.id, s.name, s.text, str(s.target_level)),
        ),
        [
            "## Sources",
            "",
            _row("source", "citation", "what the model takes from it"),
            "|---|---|---|",
            *(_row(f"`{s.id}`", s.cite, s.description or "—") for s in catalog.sources),
        ],
    ]
    return "\n".join("\n".join(lines) for lines in sections) + "\n"


def _table(
    title: str,
    section: str,
    columns: tuple[str, ...],
    entries: tuple[E, ...],
    values: Callable[[E], tuple[str, ...]],
) -> list[str]:
    """One section of the reference: a row per entry, its values, then the source id of
    each value it cites."""
    cited: tuple[str, ...] = SECTIONS[section][1]
    sources = [f"{value.replace('_', ' ')} from" for value in cited]
    return [
        f"## {title}",
        "",
        _row(*columns, *sources),
        "|" + "---|" * (len(columns) + len(cited)),
        *(_row(*values(e), *(f"`{e.provenance[value]}`" for value in cited)) for e in entries),
        "",
    ]


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
