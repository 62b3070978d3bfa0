"""Machine output: one JSON document on stdout, nothing else there."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["print_json"]


def print_json(data: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
