"""The evidence kinds file: what every reader, table and suite is built from."""

from pathlib import Path

import pytest

from btm.errors import ConfigurationError
from btm.evidence.kinds import load_kinds
from btm.validation import load_suite


def test_every_kind_has_a_suite_that_names_only_its_fields() -> None:
    for name, kind in load_kinds().items():
        suite = load_suite(name)
        for expectation in suite["expectations"]:
            kwargs = expectation["kwargs"]
            named = {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
            assert named <= set(kind.field_names), (name, expectation["type"], named)


def test_an_unquoted_comma_in_a_description_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kinds.yaml"
    path.write_text(
        "things:\n  id_field: thing_id\n  fields:\n"
        "    - {name: thing_id, type: text, description: An id, unique}\n"
    )
    with pytest.raises(ConfigurationError, match="quote a description that contains a comma"):
        load_kinds(path)
