from pathlib import Path

import pytest

from btm.catalog import load_catalog
from btm.errors import ConfigurationError
from btm.settings import Settings
from btm.targets import TARGETS_FILE, load_targets

PMO_FILE = """
states:
  synchronization:
    capabilities: {GO-1: 5, SP-3: 4}
units:
  Retail: {GO-1: 3, SEA-5: 2}
"""


def test_each_state_asks_its_catalogue_level_of_every_capability(tmp_path: Path) -> None:
    for state in load_catalog().states:
        targets = load_targets(state=state.id, home=tmp_path)
        assert targets.state == state.id
        assert targets.level("Retail", "GO-1") == state.target_level
        assert targets.source("Retail", "GO-1") == (
            f"btm/data/catalog.yaml: target_level of state {state.id}"
        )


def test_the_shipped_mapping_overrides_single_capabilities(tmp_path: Path) -> None:
    synchronization = load_targets(state="synchronization", home=tmp_path)
    assert synchronization.level("Retail", "SP-1") == 4
    assert synchronization.level("Retail", "SP-3") == 3
    assert synchronization.source("Retail", "SP-3") == (
        "btm/data/targets.yaml: states.synchronization.capabilities.SP-3"
    )
    alignment = load_targets(state="alignment", home=tmp_path)
    assert (alignment.level("Wealth", "SEA-5"), alignment.level("Wealth", "MTI-1")) == (2, 3)
    convergence = load_targets(state="convergence", home=tmp_path)
    assert {convergence.level("Retail", c) for c in load_catalog().capability_ids} == {5}


def test_the_pmo_file_wins_and_a_units_target_wins_over_a_capabilitys(tmp_path: Path) -> None:
    (tmp_path / "targets.yaml").write_text(PMO_FILE)

    targets = load_targets(state="synchronization", home=tmp_path)

    pmo = tmp_path / "targets.yaml"
    assert targets.level("Wealth", "SP-3") == 4  # the PMO's over the shipped 3
    assert targets.source("Wealth", "SP-3") == f"{pmo}: states.synchronization.capabilities.SP-3"
    assert targets.level("Wealth", "GO-1") == 5
    assert targets.level("Retail", "GO-1") == 3  # the unit's own over the capability's
    assert targets.source("Retail", "GO-1") == f"{pmo}: units.Retail.GO-1"
    assert targets.level("Retail", "SEA-5") == 2  # unit targets hold in every state
    assert targets.level("Retail", "SP-1") == 4  # untouched: the state's default
    assert targets.level("Wealth", "SEA-5") == 3  # the shipped override still holds
    assert load_targets(state="alignment", home=tmp_path).level("Wealth", "GO-1") == 3


def test_a_pmo_default_replaces_the_catalogue_level(tmp_path: Path) -> None:
    (tmp_path / "targets.yaml").write_text("states:\n  alignment: {default: 2}\n")
    targets = load_targets(state="alignment", home=tmp_path)
    assert targets.level("Retail", "GO-2") == 2
    assert (
        targets.source("Retail", "GO-2") == f"{tmp_path / 'targets.yaml'}: states.alignment.default"
    )
    assert targets.level("Retail", "SEA-5") == 2  # the capability's own target stays


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            "states:\n  alignment:\n    capabilities: {GO-1: 7}\n",
            "states.alignment.capabilities.GO-1: level 7",
        ),
        ("states:\n  alignment: {default: high}\n", "states.alignment.default: level 'high'"),
        ("units:\n  Retail: {GO-1: true}\n", "units.Retail.GO-1: level True"),
        ("units:\n  Retail: {GO-9: 3}\n", "units.Retail.GO-9: unknown capability 'GO-9'"),
        ("states:\n  harmony: {default: 3}\n", "states.harmony: unknown state 'harmony'"),
        ("states:\n  alignment: {defaults: 3}\n", "states.alignment.defaults: unknown key"),
        ("targets:\n  alignment: 3\n", "unknown key 'targets'"),
        ("units: [Retail]\n", "units must be a mapping"),
        ("states: {alignment: [\n", "not valid YAML"),
    ],
)
def test_a_bad_pmo_file_names_the_file_the_key_and_the_fix(
    tmp_path: Path, text: str, names: str
) -> None:
    (tmp_path / "targets.yaml").write_text(text)
    with pytest.raises(ConfigurationError) as error:
        load_targets(state="alignment", home=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "targets.yaml") in message and names in message
    if "level" in names:
        assert "write 1, 2, 3, 4 or 5" in message
    if "unknown capability" in names:
        assert "GO-1, GO-2" in message


def test_a_bad_shipped_mapping_is_named_too(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped.yaml"
    shipped.write_text("states:\n  convergence:\n    capabilities: {SP-3: 0}\n")
    with pytest.raises(ConfigurationError, match=r"shipped.yaml: states.convergence"):
        load_targets(state="alignment", home=tmp_path, shipped=shipped)
    assert TARGETS_FILE.is_file()


def test_the_target_state_setting_must_be_a_catalogue_state(
    btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().target_state == "alignment"
    monkeypatch.setenv("BTM_TARGET_STATE", "Synchronization")
    assert Settings().target_state == "synchronization"
    monkeypatch.setenv("BTM_TARGET_STATE", "harmony")
    with pytest.raises(ConfigurationError) as error:
        Settings()
    assert str(error.value) == (
        "BTM_TARGET_STATE='harmony' is not a state of btm/data/catalog.yaml; "
        "set it to one of alignment, synchronization, convergence"
    )
    with pytest.raises(ConfigurationError, match="BTM_TARGET_STATE='x'"):
        load_targets(state="x", home=btm_home)
