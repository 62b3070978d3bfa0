"""Just enough of the git diff format to name what a patch touches and where it failed.

``git apply`` does the applying; this module only reads the headers: which paths a patch
changes, creates or deletes (to snapshot and restore them) and its hunks (to turn git's
``patch failed: FILE:LINE`` into "hunk #2 of FILE").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FilePatch", "Hunk", "parse_patch"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


@dataclass(frozen=True, kw_only=True)
class Hunk:
    number: int  # 1-based within its file, as people count hunks
    old_start: int  # what git prints in "patch failed: FILE:<old_start>"
    header: str  # the whole "@@ -a,b +c,d @@ context" line

    def describe(self) -> str:
        return f"hunk #{self.number} ({self.header})"


@dataclass(frozen=True, kw_only=True)
class FilePatch:
    old_path: str | None  # None: the patch creates the file
    new_path: str | None  # None: the patch deletes the file
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        path = self.new_path or self.old_path
        assert path is not None
        return path

    def hunk_at(self, old_start: int) -> Hunk | None:
        return next((h for h in self.hunks if h.old_start == old_start), None)


def _strip(path: str, prefix: str) -> str | None:
    path = path.strip()
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    if path == "/dev/null":
        return None
    return path.removeprefix(prefix)


def parse_patch(text: str) -> tuple[FilePatch, ...]:
    """The files of a git-style patch, in order. Unknown lines are ignored."""
    files: list[FilePatch] = []
    old: str | None = None
    new: str | None = None
    hunks: list[Hunk] = []
    started = False

    def flush() -> None:
        if started and (old is not None or new is not None):
            files.append(FilePatch(old_path=old, new_path=new, hunks=tuple(hunks)))

    for line in text.splitlines():
        if line.startswith("diff --git "):
            flush()
            started, hunks = True, []
            # Both paths from the header; ---/+++ or rename lines refine them below.
            match = re.match(r"^diff --git a/(.+) b/(.+)$", line)
            old, new = (match[1], match[2]) if match else (None, None)
        elif line.startswith("--- ") and not hunks:
            started = True
            old = _strip(line[4:], "a/")
        elif line.startswith("+++ ") and not hunks:
            new = _strip(line[4:], "b/")
        elif line.startswith("new file mode"):
            old = None
        elif line.startswith("deleted file mode"):
            new = None
        elif line.startswith("rename from "):
            old = line.removeprefix("rename from ").strip()
        elif line.startswith("rename to "):
            new = line.removeprefix("rename to ").strip()
        elif (match := _HUNK.match(line)) is not None:
            hunks.append(Hunk(number=len(hunks) + 1, old_start=int(match[1]), header=line))
    flush()
    return tuple(files)
