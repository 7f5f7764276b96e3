"""Target-state readiness, in counts of cells: for the state the PMO pursues, how many of
each unit's and area's capability x dimension cells are at or above their target, which
cells block the state, and which state each unit already supports (every cell of it at
that state's levels).

A count never lets one cell above target hide another below it, as a mean against a mean
does. A cell that does not apply to a unit (basis `not_applicable`) is left out; a cell
whose level is unknown is not at target: missing evidence never meets a target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from btm.catalog import Catalog
from btm.targets import Targets

NOT_APPLICABLE = "not_applicable"


class ScoredCell(Protocol):
    """What readiness reads of a stored score."""

    @property
    def unit(self) -> str: ...
    @property
    def capability(self) -> str: ...
    @property
    def dimension(self) -> str: ...
    @property
    def level(self) -> int | None: ...
    @property
    def basis(self) -> str | None: ...


@dataclass(frozen=True)
class Blocking:
    """A cell below the target it needs for the state."""

    unit: str
    capability: str
    dimension: str
    level: int | None  # None: unknown
    target: int

    @property
    def text(self) -> str:
        level = "unknown" if self.level is None else str(self.level)
        return f"{self.unit} / {self.capability} {self.dimension}: {level}, needs {self.target}"


@dataclass(frozen=True)
class Readiness:
    """One unit's, one area's or the enterprise's cells against the state's targets."""

    label: str
    at_target: int
    cells: int
    blocking: tuple[Blocking, ...]  # known shortfalls first, the widest first; then unknown
    supports: str | None = None  # a unit's: the highest state all its cells meet

    @property
    def text(self) -> str:
        """ "3 of 8 cells at or above target"."""
        return f"{self.at_target} of {self.cells} cells at or above target"

    @property
    def ready(self) -> bool:
        return self.cells > 0 and not self.blocking


@dataclass(frozen=True)
class StateReadiness:
    state: str  # its id
    state_name: str
    level: int  # the level the state asks of a capability unless targets.yaml says otherwise
    enterprise: Readiness
    areas: tuple[Readiness, ...]  # in catalogue order
    units: tuple[Readiness, ...]  # in name order

    def to_json(self) -> dict[str, object]:
        def one(r: Readiness) -> dict[str, object]:
            return {
                "label": r.label,
                "at_target": r.at_target,
                "cells": r.cells,
                "blocking": len(r.blocking),
                "supports": r.supports,
            }

        return {
            "state": self.state,
            "level": self.level,
            "enterprise": one(self.enterprise),
            "areas": [one(a) for a in self.areas],
            "units": [one(u) for u in self.units],
        }


def readiness(
    scores: Sequence[ScoredCell],
    catalog: Catalog,
    *,
    state: str,
    targets: Mapping[str, Targets],
) -> StateReadiness:
    """Readiness for `state` of every unit and area, and of the enterprise; `targets`
    holds the targets of every state of the catalogue (by state id), so that each unit
    is also told the highest state it already supports."""
    chosen = targets[state]
    cells = [s for s in scores if s.basis != NOT_APPLICABLE]
    area_of = {c.id: c.area for c in catalog.capabilities}
    names = {s.id: s.name for s in catalog.states}
    levels = {s.id: s.target_level for s in catalog.states}
    ordered = sorted(catalog.states, key=lambda s: s.target_level)

    def judged(label: str, group: Sequence[ScoredCell], supports: str | None = None) -> Readiness:
        below = [
            Blocking(s.unit, s.capability, s.dimension, s.level, need)
            for s in group
            if not _meets(s, need := chosen.level(s.unit, s.capability))
        ]
        # the cells known to fall short first, the widest shortfall first; unknown ones after
        blocking = tuple(
            sorted(below, key=lambda b: (b.level is None, b.level - b.target if b.level else 0))
        )
        return Readiness(label, len(group) - len(blocking), len(group), blocking, supports)

    units = []
    for unit in sorted({s.unit for s in cells}):
        own = [s for s in cells if s.unit == unit]
        met = [
            st.id
            for st in ordered
            if all(_meets(s, targets[st.id].level(unit, s.capability)) for s in own)
        ]
        units.append(judged(unit, own, names[met[-1]] if met else None))
    return StateReadiness(
        state=state,
        state_name=names[state],
        level=levels[state],
        enterprise=judged("Enterprise", cells),
        areas=tuple(
            judged(a.name, [s for s in cells if area_of.get(s.capability) == a.id])
            for a in catalog.areas
        ),
        units=tuple(units),
    )


def _meets(score: ScoredCell, target: int) -> bool:
    return score.level is not None and score.level >= target
