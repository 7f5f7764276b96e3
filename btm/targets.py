"""Target maturity levels: the level each capability must reach for the state the PMO
pursues (BTM_TARGET_STATE), so that every score can carry its gap to the target.

Three layers of data, the most specific target winning: the state's `target_level` in
the catalogue is every capability's default; `btm/data/targets.yaml` asks other levels of
single capabilities; the PMO's `BTM_HOME/targets.yaml` is laid over it key by key and may
also set one business unit's own targets (`units:`), which win over everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from btm.catalog import DATA_DIR, Catalog, label, load_catalog, read_yaml
from btm.errors import ConfigurationError

TARGETS_FILE = DATA_DIR / "targets.yaml"
PMO_TARGETS = "targets.yaml"  # the PMO's overrides, in BTM_HOME
SETTING = "BTM_TARGET_STATE"


@dataclass(frozen=True)
class Target:
    level: int
    source: str


@dataclass(frozen=True)
class Targets:
    """The target level of every unit x capability for one state."""

    state: str
    default: Target
    capabilities: Mapping[str, Target] = field(default_factory=dict)
    units: Mapping[str, Mapping[str, Target]] = field(default_factory=dict)

    def target(self, unit: str, capability: str) -> Target:
        own = self.units.get(unit, {})
        return own.get(capability) or self.capabilities.get(capability) or self.default

    def level(self, unit: str, capability: str) -> int:
        return self.target(unit, capability).level

    def source(self, unit: str, capability: str) -> str:
        """Where the target came from: the file and the key, e.g.
        `btm/data/targets.yaml: states.synchronization.capabilities.SP-3`."""
        return self.target(unit, capability).source


def load_targets(
    *, state: str, home: Path, catalog: Catalog | None = None, shipped: Path = TARGETS_FILE
) -> Targets:
    """The targets of `state`: the catalogue's level, the shipped mapping, then the PMO's
    `home/targets.yaml` when it exists (checked against `catalog`, by default the shipped)."""
    catalog = catalog or load_catalog()
    state = catalog.state_id(state, setting=SETTING)
    level = next(s.target_level for s in catalog.states if s.id == state)
    default = Target(level, f"{label(catalog.path)}: target_level of state {state}")
    capabilities: dict[str, Target] = {}
    units: dict[str, dict[str, Target]] = {}
    pmo = home / PMO_TARGETS
    for path in (shipped, pmo) if pmo.is_file() else (shipped,):
        layer = _read_layer(path, catalog=catalog)
        default = layer.defaults.get(state, default)
        capabilities.update(layer.capabilities.get(state, {}))
        for unit, own in layer.units.items():
            units.setdefault(unit, {}).update(own)
    return Targets(state, default, capabilities, units)


# reading one file ---------------------------------------------------------------------


@dataclass
class _Layer:
    defaults: dict[str, Target] = field(default_factory=dict)
    capabilities: dict[str, dict[str, Target]] = field(default_factory=dict)
    units: dict[str, dict[str, Target]] = field(default_factory=dict)


def _mapping(path: Path, key: str, value: Any, shape: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{path}: {key} must be a mapping, e.g. {shape}")
    return value


def _level(path: Path, key: str, value: Any, catalog: Catalog) -> int:
    levels = catalog.level_numbers
    if isinstance(value, bool) or not isinstance(value, int) or value not in levels:
        *most, last = (str(n) for n in levels)
        raise ConfigurationError(
            f"{path}: {key}: level {value!r} is not a whole number from {levels[0]} to "
            f"{levels[-1]}; write {', '.join(most)} or {last}"
        )
    return value


def _capability_targets(path: Path, key: str, value: Any, catalog: Catalog) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    for capability, level in _mapping(path, key, value, "{GO-1: 4}").items():
        where = f"{key}.{capability}"
        if capability not in catalog.capability_ids:
            raise ConfigurationError(
                f"{path}: {where}: unknown capability {capability!r}; use a capability id "
                f"of {label(catalog.path)}: {', '.join(catalog.capability_ids)}"
            )
        targets[capability] = Target(_level(path, where, level, catalog), f"{label(path)}: {where}")
    return targets


def _read_layer(path: Path, *, catalog: Catalog) -> _Layer:
    raw = _mapping(path, "the file", read_yaml(path), "states: {alignment: {default: 3}}")
    unknown = sorted(str(k) for k in raw if k not in ("states", "units"))
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown key {unknown[0]!r}; the file has `states:` and, for single "
            f"business units, `units:` (see {label(TARGETS_FILE)})"
        )
    layer = _Layer()
    state_ids = [s.id for s in catalog.states]
    states = _mapping(path, "states", raw.get("states"), "{synchronization: {default: 4}}")
    for state, entry in states.items():
        key = f"states.{state}"
        if state not in state_ids:
            raise ConfigurationError(
                f"{path}: {key}: unknown state {state!r}; use one of {', '.join(state_ids)}"
            )
        entry = _mapping(path, key, entry, "{default: 4, capabilities: {SP-3: 3}}")
        extra = sorted(str(k) for k in entry if k not in ("default", "capabilities"))
        if extra:
            raise ConfigurationError(
                f"{path}: {key}.{extra[0]}: unknown key; a state has `default:` and `capabilities:`"
            )
        if "default" in entry:
            level = _level(path, f"{key}.default", entry["default"], catalog)
            layer.defaults[state] = Target(level, f"{label(path)}: {key}.default")
        layer.capabilities[state] = _capability_targets(
            path, f"{key}.capabilities", entry.get("capabilities"), catalog
        )
    units = _mapping(path, "units", raw.get("units"), "{Retail: {GO-1: 4}}")
    for unit, own in units.items():
        layer.units[str(unit)] = _capability_targets(path, f"units.{unit}", own, catalog)
    return layer
