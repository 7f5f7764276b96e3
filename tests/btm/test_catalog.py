"""The catalogue cites a source for every text of the model, refuses a copy whose
provenance is missing or names an unknown source, and is the reference `docs/model.md`."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from btm.catalog import CATALOG_FILE, PMO_SOURCE, SECTIONS, load_catalog, model_markdown
from btm.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "btm-ch1"
WORKING_LABEL = "working-label"
LATER = "btm-later"

Document = dict[str, Any]


def _shipped() -> Document:
    document: Document = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    return copy.deepcopy(document)


def _write(tmp_path: Path, document: Document) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _entry(document: Document, section: str, key: object) -> Document:
    id_key = SECTIONS[section][0]
    found: Document = next(e for e in document[section] if e[id_key] == key)
    return found


def test_the_shipped_catalogue_cites_a_declared_source_for_every_text() -> None:
    catalog = load_catalog()
    declared = {s.id for s in catalog.sources}
    assert {CHAPTER, WORKING_LABEL, LATER} <= declared
    assert PMO_SOURCE.id not in declared  # nothing shipped is the PMO's
    for section, (_, cited) in SECTIONS.items():
        for entry in getattr(catalog, section):
            assert tuple(entry.provenance) == cited, (section, entry)
            assert set(entry.provenance.values()) <= declared, (section, entry)


def test_go_and_mti_names_are_working_labels_and_sp_and_sea_names_the_chapters() -> None:
    catalog = load_catalog()
    for capability in catalog.capabilities:
        expected = WORKING_LABEL if capability.area in ("GO", "MTI") else CHAPTER
        assert capability.provenance == {"name": expected, "covers": CHAPTER}, capability.id
    for dimension in catalog.dimensions:
        assert dimension.provenance == {"name": CHAPTER, "covers": CHAPTER}, dimension.id


def test_levels_and_states_cite_what_the_chapter_gives_and_what_it_does_not() -> None:
    catalog = load_catalog()
    by_level = {lv.level: dict(lv.provenance) for lv in catalog.levels}
    assert by_level[1] == by_level[2] == {"name": CHAPTER, "text": CHAPTER}
    assert by_level[3]["name"] == by_level[4]["name"] == CHAPTER
    assert by_level[4]["text"] == LATER  # "the threshold of synchronization"
    assert by_level[5] == {"name": WORKING_LABEL, "text": LATER}
    for state in catalog.states:
        figure = catalog.source(state.provenance["name"])
        assert "Figure 1.1" in figure.cite
        assert state.provenance["text"] == figure.id


def test_cite_gives_one_line_per_source_of_an_entry() -> None:
    catalog = load_catalog()
    chapter = catalog.source(CHAPTER).cite
    assert "Hoque et al. (2006)" in chapter and '"What Is BTM?"' in chapter
    assert catalog.cite(catalog.capability("SP-1")) == (f"name, covers: {chapter}",)
    assert catalog.cite(catalog.capability("GO-1")) == (
        f"name: {catalog.source(WORKING_LABEL).cite}",
        f"covers: {chapter}",
    )
    with pytest.raises(ConfigurationError, match="unknown source 'nowhere'"):
        catalog.source("nowhere")


def test_no_source_cites_a_url() -> None:
    for source in load_catalog().sources:
        assert "://" not in source.cite + source.description, source.id


def _drop(section: str, key: object, text: str | None) -> Callable[[Document], None]:
    def edit(document: Document) -> None:
        entry = _entry(document, section, key)
        if text is None:
            del entry["provenance"]
        else:
            del entry["provenance"][text]

    return edit


def _cite(section: str, key: object, text: str, source: object) -> Callable[[Document], None]:
    def edit(document: Document) -> None:
        _entry(document, section, key)["provenance"][text] = source

    return edit


@pytest.mark.parametrize(
    ("edit", "at_fault", "fix"),
    [
        (_drop("capabilities", "GO-1", "covers"), "capabilities.GO-1.provenance.covers", "add"),
        (_drop("levels", 5, "text"), "levels.5.provenance.text", "one of btm-ch1"),
        (_drop("states", "convergence", None), "states.convergence.provenance is missing", "e.g."),
        (
            _cite("levels", 4, "text", "btm-ch2"),
            "levels.4.provenance.text names unknown source 'btm-ch2'",
            "declare it under `sources`",
        ),
        (
            _cite("dimensions", "process", "colour", CHAPTER),
            "dimensions.process.provenance.colour is not a text of this entry",
            "cite only name, covers",
        ),
    ],
    ids=["missing-text", "missing-level-text", "missing-provenance", "unknown", "not-a-text"],
)
def test_a_copy_whose_provenance_is_missing_or_unknown_is_refused(
    tmp_path: Path, edit: Callable[[Document], None], at_fault: str, fix: str
) -> None:
    document = _shipped()
    edit(document)
    path = _write(tmp_path, document)

    with pytest.raises(ConfigurationError) as refused:
        load_catalog(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: {at_fault}")
    assert fix in message


@pytest.mark.parametrize(
    ("sources", "fix"),
    [
        ([{"id": CHAPTER}], "sources[0] needs an id and a cite"),
        ([{"id": CHAPTER, "cite": "a", "url": "b"}], "has keys other than id, cite"),
        ([{"id": CHAPTER, "cite": "a"}, {"id": CHAPTER, "cite": "b"}], "repeats the id"),
        ({"id": CHAPTER}, "`sources` must be a list"),
    ],
    ids=["no-cite", "extra-key", "repeated", "not-a-list"],
)
def test_a_malformed_source_is_refused(tmp_path: Path, sources: object, fix: str) -> None:
    document = _shipped()
    document["sources"] = sources
    path = _write(tmp_path, document)
    with pytest.raises(ConfigurationError) as refused:
        load_catalog(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert fix in str(refused.value)


def _without_provenance(document: Document) -> Document:
    del document["sources"]
    for section in SECTIONS:
        for entry in document[section]:
            del entry["provenance"]
    return document


def test_a_pmo_copy_citing_nothing_is_the_pmos_throughout(tmp_path: Path) -> None:
    document = _without_provenance(_shipped())
    _entry(document, "capabilities", "GO-1")["name"] = "Board-level technology governance"

    catalog = load_catalog(_write(tmp_path, document))

    assert catalog.sources == (PMO_SOURCE,)
    assert catalog.capability("GO-1").name == "Board-level technology governance"
    assert catalog.cite(catalog.capability("GO-1")) == (
        "name, covers: Edited by the PMO in BTM_HOME/catalog.yaml",
    )
    for section, (_, cited) in SECTIONS.items():
        for entry in getattr(catalog, section):
            assert entry.provenance == dict.fromkeys(cited, PMO_SOURCE.id)


def test_a_pmo_copy_may_cite_pmo_for_what_it_rewords_without_declaring_it(
    tmp_path: Path,
) -> None:
    document = _shipped()
    go_1 = _entry(document, "capabilities", "GO-1")
    go_1["name"] = "Board-level technology governance"
    go_1["provenance"]["name"] = PMO_SOURCE.id

    catalog = load_catalog(_write(tmp_path, document))

    assert catalog.capability("GO-1").provenance == {"name": "pmo", "covers": CHAPTER}
    assert catalog.sources[-1] == PMO_SOURCE  # listed after the declared ones
    assert catalog.cite(catalog.capability("GO-1"))[0] == f"name: {PMO_SOURCE.cite}"


def test_a_copy_that_cites_some_texts_cites_them_all(tmp_path: Path) -> None:
    document = _without_provenance(_shipped())
    _entry(document, "levels", 1)["provenance"] = {"name": CHAPTER, "text": CHAPTER}
    path = _write(tmp_path, document)

    with pytest.raises(ConfigurationError) as refused:
        load_catalog(path)
    assert str(refused.value).startswith(f"{path}: areas.GO.provenance is missing")


def test_the_shipped_file_or_a_file_asked_to_must_declare_its_sources(tmp_path: Path) -> None:
    path = _write(tmp_path, _without_provenance(_shipped()))
    assert load_catalog(path).sources == (PMO_SOURCE,)

    with pytest.raises(ConfigurationError, match="no `sources` list; declare the sources"):
        load_catalog(path, require_provenance=True)


def test_an_edited_copy_is_reread_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    document = _shipped()
    path = _write(tmp_path, document)
    first = load_catalog(path)
    assert load_catalog(path) is first

    _entry(document, "capabilities", "GO-2")["provenance"]["name"] = "nowhere"
    path.write_text(yaml.safe_dump(document, sort_keys=False) + "\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"capabilities\.GO-2\.provenance\.name"):
        load_catalog(path)


def test_the_model_reference_is_generated_from_the_catalogue() -> None:
    docs = ROOT / "docs" / "model.md"
    expected = model_markdown(load_catalog())
    assert docs.read_text(encoding="utf-8") == expected, (
        "regenerate it: btm model --markdown > docs/model.md"
    )


def test_the_model_reference_gives_the_source_of_every_name_and_scope() -> None:
    catalog = load_catalog()
    text = model_markdown(catalog)
    for capability in catalog.capabilities:
        name_from, covers_from = capability.provenance["name"], capability.provenance["covers"]
        row = (
            f"| {capability.id} | {capability.area} | {capability.name} | {capability.covers} "
            f"| `{name_from}` | `{covers_from}` |"
        )
        assert row in text
    for source in catalog.sources:
        assert f"| `{source.id}` | {source.cite} |" in text
    assert "| 5 | Converged | Converged / continuously optimized. | `working-label` |" in text


def test_the_catalogue_and_its_reference_import_without_pandas() -> None:
    code = (
        "import sys, btm.catalog as c; c.model_markdown(c.load_catalog());"
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "False"
