"""A source's secret kept in a Prefect Secret block, read from the Prefect server."""

import pytest
from prefect.blocks.system import Secret

from btm.errors import ConfigurationError
from btm.evidence.sources import SecretRef
from flows.credentials import load_secret_block

pytestmark = pytest.mark.prefect


def test_a_secret_block_is_read_when_the_source_is_fetched(prefect_server: None) -> None:
    Secret(value="jira-token-from-block").save("btm-test-jira-token", overwrite=True)

    assert (
        SecretRef(block="btm-test-jira-token").resolve(load_secret_block) == "jira-token-from-block"
    )
    with pytest.raises(ConfigurationError, match="prefect block create secret"):
        SecretRef(block="btm-no-such-block").resolve(load_secret_block)
