"""Apply rendered patches to a tree atomically: all of them, or none and the tree as it was.

Two phases. First the patches are tried on a scratch copy of just the files they touch: those
already applied are recognised by reversing them (``git apply --reverse --check``), last first,
then every patch is checked (``git apply --check``) and applied to the scratch copy in order, so
that each sees the result of the ones before it. This phase never writes to the tree, so it also
serves ``patches check`` and ``--dry-run``. Only when nothing conflicts are the patches applied
to the tree, after a snapshot of the touched files; if git still fails there, the snapshot is
written back byte for byte.
"""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath

from build_tools.errors import PatchError
from build_tools.patching.patchfile import parse_patch
from build_tools.patching.render import RenderedPatch
from build_tools.runner import Runner

__all__ = ["Conflict", "PatchCheck", "PatchState", "apply_patches", "check_patches"]


class PatchState(StrEnum):
    APPLIES = "applies"
    ALREADY_APPLIED = "already applied"
    CONFLICT = "conflict"


@dataclass(frozen=True, kw_only=True)
class Conflict:
    file: str | None
    hunk: str | None  # "hunk #1 (@@ -513,7 +513,10 @@ ...)"
    detail: str  # git's own words

    def describe(self) -> str:
        where = " ".join(part for part in (self.file, self.hunk) if part)
        return f"{where}: {self.detail}" if where else self.detail


@dataclass(frozen=True, kw_only=True)
class PatchCheck:
    patch: RenderedPatch
    state: PatchState
    conflict: Conflict | None = None


def touched_paths(patch: RenderedPatch) -> list[str]:
    """Every path a patch reads or writes, relative to the tree; refuses paths leaving it."""
    paths: list[str] = []
    for file in parse_patch(patch.text):
        for path in (file.old_path, file.new_path):
            if path is None or path in paths:
                continue
            pure = PurePosixPath(path)
            if pure.is_absolute() or ".." in pure.parts:
                raise PatchError(
                    f"patch {patch.label} names a path outside the tree: {path}",
                    series=patch.series,
                    patch=patch.name,
                    file=path,
                    hint="patch paths must be relative to the tree root",
                )
            paths.append(path)
    return paths


_FAILED = re.compile(r"^error: patch failed: (?P<file>.+):(?P<line>\d+)$", re.M)
_PATH_ERROR = re.compile(r"^error: (?P<file>[^:\n]+): (?P<reason>.+)$", re.M)


def parse_conflict(patch: RenderedPatch, output: str) -> Conflict:
    """Name file and hunk from `git apply` errors; keep git's own message as the detail."""
    errors = [line.removeprefix("error: ") for line in output.splitlines() if "error:" in line]
    detail = "; ".join(errors[:3]) or output.strip() or "git apply failed without a message"
    failed = _FAILED.search(output)
    if failed is not None:
        file, line = failed["file"], int(failed["line"])
        hunk = next(
            (f.hunk_at(line) for f in parse_patch(patch.text) if file in (f.new_path, f.old_path)),
            None,
        )
        described = hunk.describe() if hunk is not None else f"hunk at line {line}"
        return Conflict(file=file, hunk=described, detail="its context does not match the tree")
    path_error = _PATH_ERROR.search(output)
    if path_error is not None and not path_error["file"].startswith("corrupt patch"):
        return Conflict(file=path_error["file"], hunk=None, detail=path_error["reason"])
    return Conflict(file=None, hunk=None, detail=detail)


def conflict_error(check: PatchCheck, *, applied_elsewhere: bool = False) -> PatchError:
    conflict = check.conflict or Conflict(file=None, hunk=None, detail="unknown failure")
    patch = check.patch
    state = "was rolled back" if applied_elsewhere else "was not changed"
    return PatchError(
        f"patch {patch.label} does not apply: {conflict.describe()}; the tree {state}",
        series=patch.series,
        patch=patch.name,
        file=conflict.file,
        hunk=conflict.hunk,
        hint=f"the tree differs from what series '{patch.series}' was written for: check the "
        f"ref, or leave the series out with --no-patch {patch.series}",
    )


def _git_apply(
    runner: Runner, tree: Path, patch_file: Path, *flags: str, probe: bool
) -> tuple[int, str]:
    # The scratch tree is no repository; the ceiling stops git from finding one around it
    # (a TMPDIR inside a checkout) and applying relative to that repository's root instead.
    result = runner.run(
        ["git", "apply", "--whitespace=nowarn", *flags, str(patch_file)],
        cwd=tree,
        env={"GIT_CEILING_DIRECTORIES": str(tree.parent)},
        probe=probe,
        check=False,
        what=f"git apply {patch_file.name}",
    )
    return result.returncode, result.output


def _copy_in(root: Path, scratch: Path, paths: list[str]) -> None:
    for path in paths:
        source = root / path
        if source.is_file():
            target = scratch / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _write_patches(directory: Path, patches: list[RenderedPatch]) -> list[Path]:
    files = []
    for index, patch in enumerate(patches):
        path = directory / f"{index:03d}-{patch.series}-{patch.name}"
        path.write_text(patch.text, encoding="utf-8")
        files.append(path)
    return files


def _try(runner: Runner, scratch: Path, file: Path, *flags: str) -> tuple[int, str]:
    """`git apply --check`, then the same for real, on the scratch copy only. Scratch-only work
    runs under --dry-run like any read-only probe."""
    code, output = _git_apply(runner, scratch, file, *flags, "--check", probe=True)
    if code == 0:
        code, output = _git_apply(runner, scratch, file, *flags, probe=True)
    return code, output


def check_patches(root: Path, patches: list[RenderedPatch], runner: Runner) -> list[PatchCheck]:
    """What each patch would do to ``root``, in order; ``root`` is only read.

    Already applied patches are found by peeling them off from the last one backwards: a later
    patch of the same file changes the context an earlier one left behind, so the earlier one
    is recognised only once the later one is reversed.
    """
    paths = [p for patch in patches for p in touched_paths(patch)]
    checks: list[PatchCheck] = []
    with tempfile.TemporaryDirectory(prefix="build-tools-patch-") as temp:
        scratch = Path(temp) / "tree"
        scratch.mkdir()
        _copy_in(root, scratch, paths)
        patch_dir = Path(temp) / "patches"
        patch_dir.mkdir()
        files = _write_patches(patch_dir, patches)
        applied = [False] * len(patches)
        for index in reversed(range(len(patches))):
            applied[index] = _try(runner, scratch, files[index], "--reverse")[0] == 0
        for index, (patch, file) in enumerate(zip(patches, files, strict=True)):
            code, output = _try(runner, scratch, file)
            if code != 0:
                conflict = parse_conflict(patch, output)
                checks.append(PatchCheck(patch=patch, state=PatchState.CONFLICT, conflict=conflict))
            elif applied[index]:
                checks.append(PatchCheck(patch=patch, state=PatchState.ALREADY_APPLIED))
            else:
                checks.append(PatchCheck(patch=patch, state=PatchState.APPLIES))
    return checks


@dataclass
class _Snapshot:
    """The bytes and modes of some paths (or their absence), to put back exactly."""

    root: Path
    files: dict[str, tuple[bytes, int] | str | None] = field(default_factory=dict)
    missing_dirs: list[Path] = field(default_factory=list)

    @classmethod
    def take(cls, root: Path, paths: list[str]) -> _Snapshot:
        snapshot = cls(root)
        for path in paths:
            target = root / path
            if target.is_symlink():
                snapshot.files[path] = str(target.readlink())
            elif target.is_file():
                snapshot.files[path] = (target.read_bytes(), stat.S_IMODE(target.stat().st_mode))
            else:
                snapshot.files[path] = None
                parent = target.parent
                while parent != root and not parent.exists():
                    snapshot.missing_dirs.append(parent)
                    parent = parent.parent
        return snapshot

    def restore(self) -> None:
        for path, saved in self.files.items():
            target = self.root / path
            if target.is_symlink() or target.exists():
                target.unlink()
            if isinstance(saved, str):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(saved)
            elif saved is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(saved[0])
                target.chmod(saved[1])
        for directory in sorted(set(self.missing_dirs), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()


def apply_patches(root: Path, patches: list[RenderedPatch], runner: Runner) -> list[PatchCheck]:
    """Apply ``patches`` to ``root`` in order, skipping already applied ones.

    Raises :class:`PatchError` naming patch, file and hunk if any does not apply; the tree is
    then exactly as before. Under --dry-run the checks run and nothing is written.
    """
    checks = check_patches(root, patches, runner)
    for check in checks:
        if check.state is PatchState.CONFLICT:
            raise conflict_error(check)
    todo = [c.patch for c in checks if c.state is PatchState.APPLIES]
    if not todo:
        return checks
    snapshot = _Snapshot.take(root, [p for patch in todo for p in touched_paths(patch)])
    with tempfile.TemporaryDirectory(prefix="build-tools-patch-") as temp:
        files = _write_patches(Path(temp), todo)
        try:
            for patch, file in zip(todo, files, strict=True):
                code, output = _git_apply(runner, root, file, probe=False)
                if code != 0:
                    failed = PatchCheck(
                        patch=patch,
                        state=PatchState.CONFLICT,
                        conflict=parse_conflict(patch, output),
                    )
                    raise conflict_error(failed, applied_elsewhere=True)
        except BaseException:
            # Including Ctrl-C between two patches: never leave a half-patched tree behind.
            snapshot.restore()
            raise
    return checks
