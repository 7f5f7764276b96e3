"""How much one evidence file may hold, and the settings that say so: the readers
(btm.evidence.files) are handed these limits, the settings read them at the door. Kept
apart from the readers, so the settings load without pandas or pyarrow."""

from __future__ import annotations

from dataclasses import dataclass

# The settings that hold the limits, named here so a refusal can say which one to raise.
MAX_FILE_BYTES_SETTING = "BTM_MAX_FILE_BYTES"
MAX_XLSX_INFLATED_BYTES_SETTING = "BTM_MAX_XLSX_INFLATED_BYTES"
MAX_XLSX_RATIO_SETTING = "BTM_MAX_XLSX_RATIO"
MAX_ROWS_SETTING = "BTM_MAX_ROWS"
MAX_COLUMNS_SETTING = "BTM_MAX_COLUMNS"
MAX_JSON_DEPTH_SETTING = "BTM_MAX_JSON_DEPTH"


@dataclass(frozen=True)
class ReadLimits:
    """How much one evidence file may hold. The defaults (the settings' defaults too) sit
    well above the demo and the 1M-row benchmark, and far below what exhausts a machine."""

    max_file_bytes: int = 1_000_000_000
    max_xlsx_inflated_bytes: int = 2_000_000_000
    # Deflate tops out near 1 000:1 on repeated bytes; a real sheet's XML, even a very
    # repetitive one, stays well under 200:1.
    max_xlsx_ratio: int = 200
    max_rows: int = 5_000_000
    max_columns: int = 500
    max_json_depth: int = 64


DEFAULT_LIMITS = ReadLimits()
