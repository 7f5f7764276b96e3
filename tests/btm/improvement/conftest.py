from __future__ import annotations

from pathlib import Path

import pytest

from btm.settings import Settings


@pytest.fixture
def settings(btm_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The defaults, whatever the machine's environment says of the PMO, the fiscal year
    and the target state."""
    for name in ("BTM_PMO", "BTM_FISCAL_YEAR_START_MONTH", "BTM_TARGET_STATE"):
        monkeypatch.delenv(name, raising=False)
    return Settings()
