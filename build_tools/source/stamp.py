"""A record of what our patches changed in a checkout, so that it is not taken for user work.

After patches are applied to a tree that was clean (or carried only our earlier patches), a
stamp goes into the checkout's git directory (``.git/build-tools-patches.json``): HEAD, the
sha256 of ``git diff --binary HEAD`` and of every file a patch created. ``changes_are_ours``
holds while the tree still matches the stamp exactly; any other edit makes it false, and the
cached checkout is again protected as having local changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.console import reporter
from build_tools.files import sha256_file
from build_tools.runner import Runner
from build_tools.source.git import git, status_lines

__all__ = [
    "STAMP_NAME",
    "changes_are_ours",
    "forget_applied_patches",
    "read_stamp",
    "tree_is_clean_or_ours",
    "write_stamp",
]

STAMP_NAME = "build-tools-patches.json"
FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class Stamp:
    head: str
    diff_sha256: str
    created: dict[str, str]  # path -> sha256 of the file a patch created (untracked)
    patches: list[dict[str, Any]]


def _stamp_path(root: Path, runner: Runner) -> Path:
    # `.git` may be a file (worktrees, submodules); ask git where the directory really is.
    return Path(git(runner, root, "rev-parse", "--absolute-git-dir")) / STAMP_NAME


def _diff_sha256(root: Path, runner: Runner) -> str:
    diff = git(runner, root, "diff", "--no-color", "--no-ext-diff", "--binary", "HEAD", strip=False)
    return hashlib.sha256(diff.encode()).hexdigest()


def _file_sha256(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def read_stamp(root: Path, runner: Runner) -> Stamp | None:
    path = _stamp_path(root, runner)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None
        return Stamp(
            head=str(data["head"]),
            diff_sha256=str(data["diff_sha256"]),
            created={str(k): str(v) for k, v in data["created"].items()},
            patches=list(data["patches"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no stamp, or not one we can trust: the changes are not provably ours


def changes_are_ours(root: Path, runner: Runner) -> bool:
    """True when the checkout differs from HEAD by exactly the patches this tool applied."""
    stamp = read_stamp(root, runner)
    if stamp is None:
        return False
    if git(runner, root, "rev-parse", "HEAD") != stamp.head:
        return False
    if any(_file_sha256(root / path) != sha for path, sha in stamp.created.items()):
        return False
    return _diff_sha256(root, runner) == stamp.diff_sha256


def tree_is_clean_or_ours(root: Path, runner: Runner) -> bool:
    """Before applying: may the result be stamped as ours? Not if the user changed anything."""
    changed = status_lines(runner, root)
    stamp = read_stamp(root, runner)
    leftovers = stamp is not None and any((root / p).exists() for p in stamp.created)
    if not changed and not leftovers:
        return True
    return changes_are_ours(root, runner)


def write_stamp(
    root: Path,
    runner: Runner,
    *,
    patches: Sequence[Mapping[str, Any]],
    created: Sequence[str],
    clean_before: bool,
) -> None:
    """Record the tree as it is now, or drop a stale stamp if the user had changes too."""
    if runner.dry_run:
        return
    path = _stamp_path(root, runner)
    if not clean_before:
        path.unlink(missing_ok=True)
        return
    previous = read_stamp(root, runner)
    known = {(p.get("series"), p.get("name")) for p in patches}
    kept = [
        p
        for p in (previous.patches if previous else [])
        if (p.get("series"), p.get("name")) not in known
    ]
    all_created = {**(previous.created if previous else {})}
    for relative in created:
        sha = _file_sha256(root / relative)
        if sha is not None:
            all_created[relative] = sha
    data = {
        "format": FORMAT,
        "head": git(runner, root, "rev-parse", "HEAD"),
        "diff_sha256": _diff_sha256(root, runner),
        "created": {p: s for p, s in sorted(all_created.items()) if (root / p).is_file()},
        "patches": [*kept, *(dict(p) for p in patches)],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def forget_applied_patches(root: Path, runner: Runner) -> None:
    """After ``git reset --hard`` of a checkout we patched: remove the files our patches created
    (only if unchanged: anything else is the user's) and the stamp."""
    stamp = read_stamp(root, runner)
    if stamp is None:
        return
    for relative, sha in stamp.created.items():
        target = root / relative
        if _file_sha256(target) != sha:
            continue
        if runner.dry_run:
            reporter.info(f"would remove {target} (created by a patch series)")
        else:
            target.unlink()
    if not runner.dry_run:
        _stamp_path(root, runner).unlink(missing_ok=True)
