"""The improvement cycle's policy, as data: the backlog's priority formula, owners, due
cycles and the pulse's thresholds (`btm/data/improvement.yaml`, overridden from
BTM_HOME).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from btm.catalog import DATA_DIR, Catalog, read_yaml
from btm.errors import ConfigurationError

CONFIG_FILE = DATA_DIR / "improvement.yaml"


PMO_CONFIG = "improvement.yaml"  # the PMO's overrides, in BTM_HOME


GUIDANCE_LINES = 4


REGRESSIONS_SHOWN = 12  # in the report: the largest falls first


DEFAULT_OWNER = "PMO"  # of an initiative in an area the configuration names no owner for


class PulseRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slip_days_off_track: int = Field(ge=0)
    stale_update_days: int = Field(ge=1)


@dataclass(frozen=True)
class Priority:
    """An initiative's priority, gap x value / effort, with its terms."""

    gap: float  # levels to go, the mean over the units
    value: float  # expected gain x area weight x (1 + dependency weight x dependents)
    effort: float  # 1 + estimated person-days / effort_scale_days; 1 when not estimated
    estimated: bool  # whether the effort was estimated

    @property
    def score(self) -> float:
        return round(self.gap * self.value / self.effort, 3)

    @property
    def basis(self) -> str:
        effort = f"{self.effort:.2f}" if self.estimated else "1 (not estimated)"
        return f"gap {self.gap:.2f} x value {self.value:.2f} / effort {effort}"


class ImprovementConfig(BaseModel):
    """btm/data/improvement.yaml, with the PMO's top-level keys laid over it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backlog_size: int = Field(ge=1)
    dependency_weight: float = Field(ge=0)
    due_in_cycles: int = Field(ge=1)
    effort_scale_days: float = Field(gt=0)
    area_weights: dict[str, float]
    owners: dict[str, str]
    approvers: dict[str, str]
    depends_on: dict[str, list[str]]
    pulse: PulseRules

    @cached_property
    def dependents(self) -> dict[str, int]:
        """Per capability, how many capabilities depend on it directly or transitively."""
        users: dict[str, set[str]] = {}
        for capability, foundations in self.depends_on.items():
            for foundation in foundations:
                users.setdefault(foundation, set()).add(capability)
        counts = {}
        for capability in users:
            seen: set[str] = set()
            todo = list(users[capability])
            while todo:
                if (user := todo.pop()) not in seen:
                    seen.add(user)
                    todo.extend(users.get(user, ()))
            counts[capability] = len(seen)
        return counts

    def priority_of(
        self,
        *,
        gap: float,
        area: str,
        capability: str,
        expected_gain: float = 1.0,
        effort_days: float | None = None,
    ) -> Priority:
        """The priority's terms: how far the cell is behind, what lifting it is worth and
        what it costs to lift, as `improvement.yaml` explains them."""
        dependents = self.dependents.get(capability, 0)
        weight = self.area_weights.get(area, 1.0)
        value = expected_gain * weight * (1 + self.dependency_weight * dependents)
        effort = 1.0 if effort_days is None else 1 + effort_days / self.effort_scale_days
        return Priority(round(gap, 3), round(value, 3), round(effort, 3), effort_days is not None)

    def priority(self, *, gap: float, area: str, capability: str) -> float:
        """The priority of a proposal: one level's gain, its effort not yet estimated."""
        return self.priority_of(gap=gap, area=area, capability=capability).score


def load_config(*, catalog: Catalog, home: Path | None = None) -> ImprovementConfig:
    raw = dict(read_yaml(CONFIG_FILE))
    sources = [str(CONFIG_FILE)]
    override = home / PMO_CONFIG if home else None
    if override and override.exists():
        laid = read_yaml(override) or {}
        if not isinstance(laid, dict):
            raise ConfigurationError(
                f"{override}: must be a mapping of the keys of {CONFIG_FILE} to replace "
                f"(e.g. `backlog_size: 5`), not a {type(laid).__name__}"
            )
        raw.update(laid)
        sources.append(str(override))
    where = " laid over ".join(reversed(sources))
    try:
        config = ImprovementConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"{where}: {problems}") from exc
    known = set(catalog.capability_ids)
    areas = {a.id for a in catalog.areas}
    for capability, foundations in config.depends_on.items():
        for name in (capability, *foundations):
            if name not in known:
                raise ConfigurationError(
                    f"{where}: depends_on names {name!r}, not a capability of the catalogue"
                )
    named = (
        ("area_weights", config.area_weights),
        ("owners", config.owners),
        ("approvers", config.approvers),
    )
    for section, keys in named:
        for key in keys:
            if key not in areas:
                raise ConfigurationError(
                    f"{where}: {section} names {key!r}, not an area of the catalogue "
                    f"({', '.join(sorted(areas))})"
                )
    _check_acyclic(config.depends_on, where)
    return config


def _check_acyclic(depends_on: Mapping[str, list[str]], where: str) -> None:
    done: set[str] = set()

    def visit(capability: str, path: tuple[str, ...]) -> None:
        if capability in path:
            loop = " -> ".join((*path[path.index(capability) :], capability))
            raise ConfigurationError(f"{where}: depends_on loops: {loop}")
        if capability in done:
            return
        for foundation in depends_on.get(capability, []):
            visit(foundation, (*path, capability))
        done.add(capability)

    for capability in depends_on:
        visit(capability, ())
