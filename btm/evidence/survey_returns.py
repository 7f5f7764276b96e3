"""The survey connector: a campaign's questionnaires as respondents return them.

Each respondent's newest `questionnaire-*.xlsx`, from the returns folder or the cycle's
inbox, is one payload named after the questionnaire sent: a copy saved as
`... (1).xlsx` or `... - Copy.xlsx` is the same respondent's return, and the newer file
replaces the older. A folder that does not exist yet holds no return.
"""

from __future__ import annotations

import re
from pathlib import Path

from btm.evidence.payload import Payload
from btm.evidence.sources import SurveySource, Templating
from btm.survey.returns import RETURNS_PATTERN

# What a mail client or a file manager appends to a name it saves twice.
_COPY = re.compile(r"(?:\s*\(\d+\)|\s*-?\s*copy(?:\s*\(?\d+\)?)?)+$", re.IGNORECASE)


def returned_part(file_name: str) -> str:
    """The questionnaire a returned file answers, whatever copy suffix it was saved with."""
    stem = Path(file_name).stem
    return f"{_COPY.sub('', stem)}.xlsx"


def fetch_returns(source: SurveySource, templating: Templating, staging: Path) -> list[Payload]:
    """Each returned questionnaire once: the newest file of each."""
    folders = [
        Path(templating.fill(source.location, source=source.name, setting="location")),
        Path(templating.fill(source.inbox, source=source.name, setting="inbox")),
    ]
    newest: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.glob(RETURNS_PATTERN):
            if not path.is_file() or path.name.startswith((".", "~$")):
                continue
            part = returned_part(path.name)
            if part not in newest or path.stat().st_mtime > newest[part].stat().st_mtime:
                newest[part] = path
    return [Payload(source.name, part, path) for part, path in sorted(newest.items())]
