"""LanceDB filter expressions built from values (LanceDB takes filters as SQL text only)."""

from __future__ import annotations

import os
from typing import Sequence

# Values per IN (...) filter: callers split longer lists into chunks of this many.
IN_CHUNK = 400


def sql_str(value: str) -> str:
    """A SQL string literal for LanceDB filters (quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


def folder_filter(folder: str) -> str:
    """Rows whose file lies in `folder` or below it."""
    folder = str(folder).rstrip(os.sep) or os.sep
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    return f"(folder = {sql_str(folder)} OR starts_with(path, {sql_str(prefix)}))"
