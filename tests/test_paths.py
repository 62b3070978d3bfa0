"""The default cache directory: platformdirs' Linux rule, computed without importing it (it
loads tempfile, shutil and random: a noticeable part of `plan`'s start-up)."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from build_tools.paths import APP_NAME, default_cache_dir


@pytest.mark.parametrize("xdg", [None, "/x/y", "  ", "relative", " /a/b ", "/trailing/"])
def test_default_cache_dir_follows_platformdirs_without_importing_it(
    xdg: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUILD_TOOLS_CACHE_DIR", raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    expected = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
    assert default_cache_dir() == expected
