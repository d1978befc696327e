"""A tiny TOML writer for model documents in tests (``tomllib`` only reads).

Scalars, lists and tables are written inline; a top-level list of tables becomes
``[[name]]`` sections. Enough for ``tests/modelgen.py`` documents and their broken copies.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        # a JSON string is a TOML basic string (same escapes: \" \\ \n \uXXXX)
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dumps(doc: dict[str, Any]) -> str:
    """``doc`` as TOML text; ``tomllib.loads(dumps(doc)) == doc`` for plain data."""
    lines: list[str] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for k, v in doc.items():
        if _is_table_array(v):
            arrays.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, tables in arrays:
        for table in tables:
            lines.append("")
            lines.append(f"[[{_key(k)}]]")
            lines.extend(f"{_key(tk)} = {_value(tv)}" for tk, tv in table.items())
    return "\n".join(lines) + "\n"
