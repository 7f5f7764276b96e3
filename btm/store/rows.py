"""Evidence rows in bulk: each accepted batch's typed rows as one Parquet document in
`evidence_rows`, written in one statement and read back whole or by column.

The layout is `row_number` (the row a spreadsheet shows) and then the kind's fields in
their order, typed as the kind says: text as strings, decimals as float64, dates as
dates, booleans as booleans; a field the source did not carry is all missing. Read back,
the frame has `batch_id` and `row_number` first and every field typed as the reader
types it, whatever batch it came from.

pandas and pyarrow are imported where rows are written or read: `btm status` and the
other commands that read only the small tables never pay for them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import Session

from btm.evidence.kinds import EvidenceKind, kind_named
from btm.store.tables import EvidenceBatch, EvidenceRows

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

ROW_NUMBER = "row_number"
_TABLE = EvidenceRows.__table__  # type: ignore[attr-defined]


def _arrow_types() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "text": pa.large_string(),
        "decimal": pa.float64(),
        "date": pa.date32(),
        "boolean": pa.bool_(),
    }


def schema_of(kind: EvidenceKind) -> pa.Schema:
    """The Parquet schema of a kind's rows."""
    import pyarrow as pa

    types = _arrow_types()
    return pa.schema([(ROW_NUMBER, pa.int64()), *((f.name, types[f.type]) for f in kind.fields)])


def _column(values: pd.Series, to: pa.DataType) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_string(to) and values.dtype == object:
        values = values.astype("str")  # cells of a text field are text, however held
    array = pa.array(values, from_pandas=True)
    if array.null_count == len(array):  # nothing in it, whatever type it was held as
        return pa.nulls(len(array), type=to)
    # a date field keeps the day: a time of day read with it is dropped, as it always was
    return pc.cast(array, to, safe=not pa.types.is_date(to))


def encode(frame: pd.DataFrame, kind: EvidenceKind, *, row_numbers: pd.Series) -> bytes:
    """A batch's rows as one Parquet document in the kind's layout."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = schema_of(kind)
    columns = [pa.array(row_numbers.to_numpy(), type=pa.int64())]
    for field in schema.remove(0):
        if field.name in frame.columns:
            columns.append(_column(frame[field.name], field.type))
        else:
            columns.append(pa.nulls(len(frame), type=field.type))
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns, schema=schema), buffer, compression="zstd")
    return buffer.getvalue()


def _typed(table: pa.Table) -> pd.DataFrame:
    """Arrow rows as the reader types them: dates as datetime64, booleans nullable."""
    import pandas as pd
    import pyarrow as pa

    dates = [i for i, f in enumerate(table.schema) if pa.types.is_date(f.type)]
    for i in dates:
        table = table.set_column(i, table.field(i).name, table.column(i).cast(pa.timestamp("us")))
    return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


@dataclass(frozen=True)
class Encoded:
    """A batch's rows, encoded and ready to keep."""

    kind: str
    rows: int
    data: bytes


def encode_rows(frame: pd.DataFrame, kind: str) -> Encoded:
    """The reader's frame (with its `_row` column) as its kind's document. Arrow encodes
    without holding the GIL, so a run encodes a batch while Great Expectations judges it."""
    from btm.evidence.files import ROW_COLUMN

    data = encode(frame, kind_named(kind), row_numbers=frame[ROW_COLUMN])
    return Encoded(kind, len(frame), data)


def _replace(connection: sa.Connection, batch_id: int, encoded: Encoded | None) -> None:
    connection.execute(_TABLE.delete().where(_TABLE.c.batch_id == batch_id))
    if encoded is not None:
        connection.execute(
            _TABLE.insert().values(
                batch_id=batch_id, kind=encoded.kind, rows=encoded.rows, data=encoded.data
            )
        )


def store_rows(*, engine: sa.Engine, kind: str, batch_id: int, frame: pd.DataFrame) -> None:
    """Keep a batch's rows, replacing any kept for it before, in one transaction."""
    encoded = encode_rows(frame, kind)
    with engine.begin() as connection:
        _replace(connection, batch_id, encoded)


def keep_batch(*, engine: sa.Engine, batch: EvidenceBatch, rows: Encoded | None) -> EvidenceBatch:
    """Store a batch as judged, with its rows when accepted (none when quarantined), in
    one transaction: a run killed in between leaves neither, so no accepted batch is ever
    kept without its rows."""
    with Session(engine, expire_on_commit=False) as session:
        session.add(batch)
        session.flush()
        assert batch.id is not None
        _replace(session.connection(), batch.id, rows)
        session.commit()
    return batch


def _documents(engine: sa.Engine, kind: str, batch_ids: Sequence[int]) -> list[tuple[int, bytes]]:
    if not batch_ids:
        return []
    statement = (
        sa.select(_TABLE.c.batch_id, _TABLE.c.data)
        .where(_TABLE.c.kind == kind, _TABLE.c.batch_id.in_([int(i) for i in batch_ids]))
        .order_by(_TABLE.c.batch_id)
    )
    with engine.connect() as connection:
        return [(int(b), bytes(d)) for b, d in connection.execute(statement)]


def _read(data: bytes, columns: list[str] | None = None) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data), columns=columns)


def decode(data: bytes) -> pd.DataFrame:
    """One Parquet document of rows, typed as the reader types them."""
    return _typed(_read(data))


def load_rows(*, engine: sa.Engine, kind: str, batch_ids: Sequence[int]) -> pd.DataFrame:
    """A kind's rows of the given batches, `batch_id` and `row_number` first, typed as the
    reader types them."""
    import pyarrow as pa

    schema = schema_of(kind_named(kind))
    tables = []
    for batch_id, data in _documents(engine, kind, batch_ids):
        table = _read(data)
        tables.append(table.add_column(0, "batch_id", pa.repeat(batch_id, table.num_rows)))
    if not tables:
        empty = schema.empty_table()
        tables = [empty.add_column(0, "batch_id", pa.array([], type=pa.int64()))]
    return _typed(pa.concat_tables(tables, promote_options="default"))


def load_ids(*, engine: sa.Engine, kind: str, batch_ids: Sequence[int]) -> set[str]:
    """The distinct ids of a kind's rows in the given batches, read from their id column
    alone."""
    import pyarrow.compute as pc

    id_field = kind_named(kind).id_field
    ids: set[str] = set()
    for _, data in _documents(engine, kind, batch_ids):
        column = _read(data, [id_field]).column(0)
        ids.update(str(v) for v in pc.unique(column.drop_null()).to_pylist())
    return ids
