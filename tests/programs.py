"""Programs a test needs: found, or the test is skipped saying what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["namespaces_allowed", "require"]


def require(name: str, why: str, *, install: str | None = None) -> Path:
    """``name`` beside this Python (pip-installed tools first) or on PATH; else skip the test
    with the reason (``why``) and what to install."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed ({why}); install {install or name} to run this test")
    return Path(found)


def namespaces_allowed() -> bool:
    """Whether this machine lets an unprivileged process bind-mount in its own user and mount
    namespace, as the nvcc launcher does for a canonical work-directory path (containers
    under Docker's default seccomp profile do not)."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None:
        return False
    probe = [unshare, "-rm", "--", mount, "--bind", sys.prefix, sys.prefix]
    return subprocess.run(probe, capture_output=True, check=False, timeout=60).returncode == 0
