"""One Prefect test server for the whole session (about 20 s), shared by the flow tests."""

from collections.abc import Iterator

import pytest

import flows  # noqa: F401  (sets Prefect's quiet defaults before Prefect is imported)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
