"""One Prefect test server for the whole session (about 20 s), shared by the flow tests."""

import importlib
from collections.abc import Iterator

import pytest

from flows.environment import quiet_prefect

quiet_prefect()  # before Prefect is imported

# Prefect binds its console log handler to the stderr of the moment `prefect.main` is
# first imported. Imported first inside a CliRunner, it would keep writing to that
# runner's stream after it closes, and the next flow run in the process would fail.
importlib.import_module("prefect.main")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
