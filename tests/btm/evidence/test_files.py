from pathlib import Path

import pytest

from btm.errors import EvidenceError
from btm.evidence.files import archive_file, kind_of_file, parse_file, sha256_of
from tests.factories import rows, write_csv


def _parse(path: Path, tmp_path: Path):
    return parse_file(archive_file(path, archive_dir=tmp_path / "archive"))


def test_archive_is_content_addressed_and_written_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in" / "projects-retail.csv", rows("projects", 2))
    first = archive_file(path, archive_dir=tmp_path / "archive")
    second = archive_file(path, archive_dir=tmp_path / "archive")
    assert first.archived == second.archived
    assert first.sha256 == sha256_of(path) == first.archived.stem
    assert first.archived.read_bytes() == path.read_bytes()
    assert len(list((tmp_path / "archive").rglob("*.csv"))) == 1
    assert (first.source, first.kind) == ("projects-retail", "projects")


def test_contract_headers_are_read_with_no_mapping(tmp_path: Path) -> None:
    parsed = _parse(write_csv(tmp_path / "investments.csv", rows("investments", 3)), tmp_path)
    assert parsed.problems == () and parsed.unknown_columns == ()
    assert parsed.frame["budget"].tolist() == [1000.0] * 3
    assert parsed.frame["business_case"].tolist() == [True] * 3
    assert parsed.frame["_row"].tolist() == [2, 3, 4]


def test_real_export_quirks_are_accepted(tmp_path: Path) -> None:
    records = rows("projects", 4)
    records[0]["name"] = 'Branch "refresh", phase 2\nsecond line'
    for record, spelling in zip(records, ["YES", "n", "1", "False"], strict=True):
        record["architecture_reviewed"] = spelling
    records[1]["health"] = ""
    path = write_csv(tmp_path / "projects-wealth.csv", records, sep=";", bom=True)

    parsed = _parse(path, tmp_path)

    assert parsed.problems == ()
    frame = parsed.frame
    assert frame["project_id"].iloc[0] == "PRJ-1"  # the BOM is not part of the first header
    assert frame["name"].iloc[0] == 'Branch "refresh", phase 2\nsecond line'
    assert frame["architecture_reviewed"].tolist() == [True, False, True, False]
    assert frame["health"].isna().tolist() == [False, True, False, False]


def test_cells_of_the_wrong_type_are_named_by_row_and_column(tmp_path: Path) -> None:
    records = rows("projects", 3)
    records[1]["budget"] = "twelve"
    records[2]["planned_end"] = "31/12/2026"
    parsed = _parse(write_csv(tmp_path / "projects.csv", records), tmp_path)
    problems = {p.column: p for p in parsed.problems}
    assert problems["budget"].rows == (3,) and problems["budget"].values == ("twelve",)
    assert problems["planned_end"].rows == (4,)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"project_id,business_unit,name\n", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("project_id,name\nP1,Caf\u00e9\n".encode("latin-1"), "row 2 is not valid UTF-8"),
    ],
)
def test_unreadable_files_are_refused_by_name(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "projects-bad.csv"
    path.write_bytes(content)
    with pytest.raises(EvidenceError, match=message) as raised:
        _parse(path, tmp_path)
    assert "projects-bad.csv" in str(raised.value)


def test_kind_comes_from_the_file_name(tmp_path: Path) -> None:
    assert kind_of_file(Path("investments-retail.csv")) == "investments"
    with pytest.raises(EvidenceError, match="cannot tell the evidence kind"):
        kind_of_file(Path("budget-2026.csv"))
