"""Where the tool keeps things: one cache root, overridable per command with ``--cache-dir``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["default_cache_dir"]

APP_NAME = "ollama-build-tools"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$BUILD_TOOLS_CACHE_DIR`` if set, else the platform's user cache dir.

    Toolkits (GiBs) and source checkouts live under it, so it must survive between runs.
    """
    env = os.environ if environ is None else environ
    override = env.get("BUILD_TOOLS_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if os.uname().sysname == "Linux":
        # platformdirs' rule on Linux (XDG), without importing it: it loads tempfile, shutil
        # and random, a noticeable part of a `plan` that takes a tenth of a second.
        xdg = env.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if Path(xdg).is_absolute() else Path("~/.cache").expanduser()
        return base / APP_NAME
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
