"""Where the files the product ships live: data (catalogue, rubric, kinds, policy),
Great Expectations suites and report templates, and the PMO's overrides in BTM_HOME.

In the repository the suites and templates are the top-level `expectations/` and
`reports/` folders, for review beside the code; the wheel carries them inside the
package as `btm/suites/` and `btm/templates/` (pyproject.toml maps them). A file of the
same name in BTM_HOME (`catalog.yaml`, `rubric.yaml`, `expectations/<kind>.json`,
`templates/<name>`) replaces the shipped one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache, wraps
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

PACKAGE = Path(__file__).resolve().parent
DATA_DIR = PACKAGE / "data"
HOME_SUITES = "expectations"  # BTM_HOME/expectations/<kind>.json
HOME_TEMPLATES = "templates"  # BTM_HOME/templates/<template>


def _bundled(installed: str, in_checkout: str) -> Path:
    """A folder the wheel carries inside the package, or its top-level source folder when
    the package runs from a checkout (an editable install)."""
    inside = PACKAGE / installed
    return inside if inside.is_dir() else PACKAGE.parent / in_checkout


SUITES_DIR = _bundled("suites", "expectations")
TEMPLATES_DIR = _bundled("templates", "reports")


def first_file(name: str, folders: Sequence[Path]) -> Path:
    """`name` in the first of `folders` that has it, else in the last (the shipped one),
    whose reader then names the missing file."""
    return next((d / name for d in folders if (d / name).is_file()), folders[-1] / name)


def data_file(name: str, home: Path | None = None) -> Path:
    """A shipped data file, or the PMO's copy of it in BTM_HOME when there is one."""
    return first_file(name, (home, DATA_DIR) if home else (DATA_DIR,))


def suite_dirs(home: Path | None = None) -> tuple[Path, ...]:
    """Where suites are looked up, the PMO's folder first."""
    return _with_home(home, HOME_SUITES, SUITES_DIR)


def template_dirs(home: Path | None = None) -> tuple[Path, ...]:
    """Where templates are looked up, the PMO's folder first."""
    return _with_home(home, HOME_TEMPLATES, TEMPLATES_DIR)


def _with_home(home: Path | None, folder: str, shipped: Path) -> tuple[Path, ...]:
    own = home / folder if home else None
    return (own, shipped) if own is not None and own.is_dir() else (shipped,)


def reread_when_changed(load: Callable[..., T]) -> Callable[..., T]:
    """Cache what `load(path, *rest)` made of a file until the file changes: a long-lived
    worker sees a PMO's edit on its next run, and a run that loads a file often reads it
    once. The file's modification time and size key the cache, with the other arguments."""

    @lru_cache(maxsize=64)
    def by_stamp(path: Path, _mtime: int, _size: int, *rest: object) -> T:
        return load(path, *rest)

    @wraps(load)
    def wrapper(path: Path, *rest: object) -> T:
        try:
            status = path.stat()
        except OSError:  # the loader reports the missing file, naming it
            return load(path, *rest)
        return by_stamp(path, status.st_mtime_ns, status.st_size, *rest)

    return wrapper
