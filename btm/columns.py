"""Whole-column operations pandas does one Python object at a time, done by Arrow.

pandas is imported where a column is read: importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def is_in(values: pd.Series, known: Collection[str]) -> pd.Series:
    """`values.isin(known)` for many known values: pandas turns each of them into an Arrow
    scalar (seconds for 100k ids), Arrow's own lookup takes them as one array. Missing
    values are never in."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        found = pc.is_in(pa.array(values, from_pandas=True), value_set=pa.array(list(known)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return values.isin(known)  # values that are not all text
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)


def folded(values: pd.Series) -> pd.Series:
    """The values as text compared without case or surrounding spaces. Arrow lowers plain
    ASCII text (for which lowering is case folding) at once; Python folds any other."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = values.astype("str").str.strip()
    if pc.all(pc.string_is_ascii(pa.array(text.array))).as_py() is not False:
        return text.str.lower()
    return text.map(str.casefold, na_action="ignore")
