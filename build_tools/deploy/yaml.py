"""A YAML writer for the rendered compose and LiteLLM files: block style, every string
double-quoted.

A JSON string literal is a valid YAML double-quoted scalar, so ``json.dumps`` does the quoting:
no value can turn into a number, a boolean, a comment or a new key, whatever it contains.
Mapping keys are written plain only when they are simple identifiers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dump_yaml"]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_INDENT = "  "


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _key(key: str) -> str:
    return (
        key if _PLAIN_KEY.match(key) and key not in ("true", "false", "null") else json.dumps(key)
    )


def _is_block(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) and bool(value)


def _lines(value: Any, depth: int) -> list[str]:
    pad = _INDENT * depth
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _is_block(item):
                lines.append(f"{pad}{_key(key)}:")
                lines += _lines(item, depth + 1)
            else:
                lines.append(f"{pad}{_key(key)}: {_inline(item)}")
        return lines
    assert isinstance(value, Sequence)
    for item in value:
        if isinstance(item, Mapping) and item:
            nested = _lines(item, depth + 1)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
        elif _is_block(item):
            lines.append(f"{pad}-")
            lines += _lines(item, depth + 1)
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return _scalar(value)


def dump_yaml(document: Mapping[str, Any]) -> str:
    return "\n".join(_lines(document, 0)) + "\n"
