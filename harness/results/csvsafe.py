"""CSV cells a spreadsheet would run as a formula are neutralised (OWASP's CSV-injection rule).

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single quote in front
(``'=HYPERLINK(…)``), so Excel, LibreOffice and Google Sheets show it as text. Numbers are left alone: a numeric
column is never touched, and a text cell that is a plain number (``-1.5``, ``+3``, ``-2e-3``) stays as it is.
Only CSV is changed; Parquet and run bundles keep every value exact.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralize(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns are neutralised; numeric, boolean and time columns are kept."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(neutralize)
    return out
