"""The BTM Standard as data: areas, capabilities, dimensions, levels and states.

Loaded from `btm/data/catalog.yaml` (or a PMO's edited copy); no capability name or
level text is written in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from btm.errors import ConfigurationError
from btm.resources import DATA_DIR, reread_when_changed

CATALOG_FILE = DATA_DIR / "catalog.yaml"


def read_yaml(path: Path) -> Any:
    """Read a YAML data file, turning every failure into a ConfigurationError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc


@dataclass(frozen=True)
class Area:
    id: str
    name: str


@dataclass(frozen=True)
class Capability:
    id: str
    area: str
    name: str
    covers: str


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    covers: str


@dataclass(frozen=True)
class Level:
    level: int
    name: str
    text: str


@dataclass(frozen=True)
class State:
    id: str
    name: str
    text: str
    target_level: int


@dataclass(frozen=True)
class Catalog:
    areas: tuple[Area, ...]
    capabilities: tuple[Capability, ...]
    dimensions: tuple[Dimension, ...]
    levels: tuple[Level, ...]
    states: tuple[State, ...]
    survey_roles: tuple[str, ...]  # who answers the self-assessment survey
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


def _build(path: Path, raw: Any) -> Catalog:
    try:
        catalog = Catalog(
            areas=tuple(Area(**a) for a in raw["areas"]),
            capabilities=tuple(Capability(**c) for c in raw["capabilities"]),
            dimensions=tuple(Dimension(**d) for d in raw["dimensions"]),
            levels=tuple(Level(**lv) for lv in raw["levels"]),
            states=tuple(State(**s) for s in raw["states"]),
            survey_roles=tuple(str(r) for r in raw["survey_roles"]),
            path=path,
        )
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"{path}: malformed catalogue ({exc}); each of areas, capabilities, dimensions, "
            "levels, states and survey_roles must be a list of entries with the documented keys"
        ) from exc
    area_ids = {a.id for a in catalog.areas}
    for capability in catalog.capabilities:
        if capability.area not in area_ids:
            raise ConfigurationError(
                f"{path}: capability {capability.id} names unknown area {capability.area!r}"
            )
    if [lv.level for lv in catalog.levels] != [1, 2, 3, 4, 5]:
        raise ConfigurationError(f"{path}: levels must be exactly 1 to 5, in order")
    return catalog


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """The catalogue in `path` (the shipped one, or the PMO's `BTM_HOME/catalog.yaml`)."""
    return _load(path)


@reread_when_changed
def _load(path: Path) -> Catalog:
    return _build(path, read_yaml(path))


def label(path: Path) -> str:
    """A data file's name for messages: `btm/data/<name>` when shipped, else its path."""
    return f"btm/data/{path.name}" if path.parent == DATA_DIR else str(path)
