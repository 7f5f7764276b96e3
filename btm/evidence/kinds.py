"""Canonical evidence kinds, loaded from `btm/data/evidence-kinds.yaml`.

A kind names its fields and their types; the reader coerces every source onto them and
the store builds one table per kind from the same definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

from btm.catalog import DATA_DIR, read_yaml
from btm.errors import ConfigurationError

KINDS_FILE = DATA_DIR / "evidence-kinds.yaml"
FieldType = Literal["text", "decimal", "date", "boolean"]
FIELD_TYPES: tuple[FieldType, ...] = ("text", "decimal", "date", "boolean")


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str


@dataclass(frozen=True)
class EvidenceKind:
    name: str
    id_field: str
    description: str
    fields: tuple[Field, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "id_field": self.id_field,
            "description": self.description,
            "fields": [asdict(f) for f in self.fields],
        }


# Loaded once per process, unlike the rubric and the catalogue: the kinds are the
# evidence tables' schema, which changes only with a new release and its migration.
@cache
def load_kinds(path: Path = KINDS_FILE) -> dict[str, EvidenceKind]:
    raw = read_yaml(path)
    kinds: dict[str, EvidenceKind] = {}
    for name, spec in raw.items():
        try:
            fields = tuple(
                Field(f["name"], cast(FieldType, f["type"]), f.get("description", ""))
                for f in spec["fields"]
            )
            kind = EvidenceKind(name, spec["id_field"], spec.get("description", ""), fields)
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(f"{path}: kind {name!r} is malformed ({exc})") from exc
        for raw_field in spec["fields"]:
            extra = set(raw_field) - {"name", "type", "description"}
            if extra:
                raise ConfigurationError(
                    f"{path}: kind {name!r} field {raw_field.get('name')!r} has unknown keys "
                    f"{sorted(map(str, extra))}; quote a description that contains a comma"
                )
        for f in fields:
            if f.type not in FIELD_TYPES:
                raise ConfigurationError(
                    f"{path}: kind {name!r} field {f.name!r} has type {f.type!r}; "
                    f"use one of {', '.join(FIELD_TYPES)}"
                )
        if kind.id_field not in kind.field_names:
            raise ConfigurationError(f"{path}: kind {name!r} id_field is not one of its fields")
        kinds[name] = kind
    return kinds


def kind_named(name: str) -> EvidenceKind:
    kinds = load_kinds()
    if name not in kinds:
        raise ConfigurationError(f"unknown evidence kind {name!r}; known: {', '.join(kinds)}")
    return kinds[name]
