"""Reading a build summary (``build --json``) the way a user's script would."""

from __future__ import annotations

from typing import Any

__all__ = ["artifact"]


def artifact(summary: dict[str, Any], kind: str) -> dict[str, Any]:
    """The one packaged artifact of ``kind``: "tar", "wheel", "manifest" or "sha256sums"."""
    found: list[dict[str, Any]] = [a for a in summary["package"]["artifacts"] if a["kind"] == kind]
    assert len(found) == 1, (kind, summary["package"]["artifacts"])
    return found[0]
