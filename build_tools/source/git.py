"""git in a checkout, through the runner: the one way this package asks git anything."""

from __future__ import annotations

from pathlib import Path

from build_tools.runner import Runner

__all__ = ["changed_files", "git", "git_or_none", "status_lines"]


def git(
    runner: Runner,
    root: Path,
    *args: str,
    probe: bool = True,
    what: str | None = None,
    strip: bool = True,
) -> str:
    """``git -C root ARGS``'s output; a failure raises CommandFailedError. ``probe``: a
    read-only query that still runs under ``--dry-run`` (and is stopped after the runner's
    probe timeout)."""
    output = runner.run(
        ["git", "-C", str(root), *args], probe=probe, quick=probe, what=what or f"git {args[0]}"
    ).output
    return output.strip() if strip else output


def git_or_none(runner: Runner, root: Path, *args: str) -> str | None:
    """A read-only query whose failure is an answer (not a repository, no such ref): None."""
    result = runner.run(["git", "-C", str(root), *args], probe=True, quick=True, check=False)
    return result.output.strip() if result.returncode == 0 else None


def status_lines(runner: Runner, root: Path) -> list[str]:
    """``git status --porcelain`` of tracked files: ``XY path`` per changed file."""
    # The two status columns are significant, so the output is not stripped.
    output = git(runner, root, "status", "--porcelain", "--untracked-files=no", strip=False)
    return [line for line in output.splitlines() if line.strip()]


def changed_files(runner: Runner, root: Path) -> set[str]:
    """The tracked files with local changes, relative to ``root``."""
    return {line[3:].strip() for line in status_lines(runner, root)}
