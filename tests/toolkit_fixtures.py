"""pytest plugin: real CUDA toolkits for tests, installed once per machine.

Activate with ``pytest_plugins = ["toolkit_fixtures"]`` in conftest.py. The toolkits are
installed through the real code into the real cache (``$BUILD_TOOLS_CACHE_DIR`` or the user
cache dir), so the first run downloads about 1.3 GB (CUDA 12.4) and 0.5 GB (CUDA 13.0) and
every later run reuses them in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.paths import default_cache_dir
from build_tools.runner import Runner
from build_tools.toolkit import Toolkit, install_toolkit

from programs import require

__all__ = ["cmake_program", "cuda12_toolkit", "cuda13_toolkit", "ninja_program", "toolkit_cache"]


@pytest.fixture(scope="session")
def toolkit_cache() -> Path:
    """The machine's real cache dir, so toolkit downloads happen once per machine."""
    return default_cache_dir()


@pytest.fixture(scope="session")
def cuda12_toolkit(toolkit_cache: Path) -> Toolkit:
    """CUDA 12.4.1 from Debian packages (archs 50-90)."""
    return install_toolkit("12.4", "debian", cache_dir=toolkit_cache, runner=Runner())


@pytest.fixture(scope="session")
def cuda13_toolkit(toolkit_cache: Path) -> Toolkit:
    """CUDA 13.0 from NVIDIA's PyPI wheels (archs 75-121)."""
    return install_toolkit("13.0", "pypi", cache_dir=toolkit_cache, runner=Runner())


@pytest.fixture(scope="session")
def cmake_program() -> Path:
    # The pinned CMake of this Python environment (a pip dependency) before PATH's.
    return require("cmake", "the toolkit tests configure CMake projects", install="cmake (pip)")


@pytest.fixture(scope="session")
def ninja_program() -> Path:
    return require("ninja", "the toolkit tests build with Ninja", install="ninja (pip)")
