"""The order a build runs, as data: what ``--help`` shows and what ``run_build`` executes."""

from __future__ import annotations

__all__ = ["BUILD_STAGES"]

# run_build (pipeline.run) executes exactly these stages in this order; a test holds it to that.
BUILD_STAGES: tuple[str, ...] = (
    "source",
    "plan",
    "patch",
    "configure/build",
    "install",
    "audit",
    "package",
    "verify",
)
