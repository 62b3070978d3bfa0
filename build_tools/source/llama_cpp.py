"""The llama.cpp source of a G5 (v0.30+) Ollama build: fetched, proven, patched, then offline.

Ollama's superbuild clones llama.cpp at *build* time and patches it with ``llama/compat``; its
offline switch ``FETCHCONTENT_SOURCE_DIR_LLAMA_CPP`` uses a tree as-is and skips the patch
(``docs/generations.md#g5``). So this module does what the superbuild would have done, before
the build starts:

1. obtain the tag named by ``LLAMA_CPP_VERSION`` from ``--llama-cpp-source`` (git URL or
   local repository, fetched shallowly into ``<workdir>/sources`` like the Ollama source) or
   copy a plain directory (e.g. the llama.cpp inside the xllamacpp sdist) into the cache;
2. refuse a tree whose version cannot be proven (not git) or differs from the pin, unless the
   user accepts it explicitly - the result records what was used either way;
3. apply Ollama's compat patches with Ollama's own ``llama/compat/apply-patch.cmake`` (without
   them the build works but silently loses support for Ollama-published models).

The patched tree is never the user's: patches go into the cached copy only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from build_tools.console import reporter
from build_tools.errors import SourceError
from build_tools.runner import Runner
from build_tools.source.checkout import SourceSpec, prepare_source, source_slug
from build_tools.source.git import changed_files, git_or_none
from build_tools.source.ollama_tree import CompatPatch

__all__ = [
    "DEFAULT_LLAMA_CPP_SOURCE",
    "LlamaCppSource",
    "LlamaCppSpec",
    "prepare_llama_cpp",
]

DEFAULT_LLAMA_CPP_SOURCE = "https://github.com/ggml-org/llama.cpp.git"
OVERRIDE_FLAG = "--accept-unverified-llama-cpp"
# Why an unverified tree is a risk beyond the compat patches: the Go code of a tag passes flags
# that only its pinned llama-server knows (docs/generations.md, "Go and llama.cpp are coupled").
COUPLING = (
    "Ollama's Go code passes llama-server flags of its pinned llama.cpp (from v0.32.6: "
    "--load-mode), so a model that fails to load with this tree may need the pinned one"
)


@dataclass(frozen=True, kw_only=True)
class LlamaCppSpec:
    source: str  # git URL, local repository or plain directory
    tag: str  # LLAMA_CPP_VERSION of the Ollama tree, e.g. "b10069"
    workdir: Path
    accept_unverified: bool = False  # build a tree whose version is unproven or different
    force: bool = False  # discard foreign local changes in the cached checkout


@dataclass(frozen=True, kw_only=True)
class LlamaCppSource:
    """The prepared tree handed to CMake as ``FETCHCONTENT_SOURCE_DIR_LLAMA_CPP``."""

    root: Path
    source: str  # what --llama-cpp-source named (paths made absolute)
    kind: Literal["git", "directory"]
    wanted: str  # LLAMA_CPP_VERSION
    ref: str | None  # what was checked out ("b10069", "HEAD"); None for a plain directory
    commit: str | None
    describe: str | None  # `git describe --tags` of what was used
    verified: bool  # a git tag equal to LLAMA_CPP_VERSION
    patches: tuple[str, ...]  # Ollama compat patches applied, relative to llama/compat
    note: str | None = None  # why the version is not verified

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "llama_cpp_version": self.wanted,
            "ref": self.ref,
            "commit": self.commit,
            "describe": self.describe,
            "verified": self.verified,
            "note": self.note,
            "compat_patches": list(self.patches),
            "root": str(self.root),
        }


_DIFF_PATH = re.compile(r"^diff --git a/\S+ b/(\S+)$", re.M)


def patched_paths(compat: CompatPatch) -> set[str]:
    """Files (relative to the llama.cpp root) that Ollama's compat patches change."""
    paths: set[str] = set()
    for patch in compat.patches:
        paths.update(_DIFF_PATH.findall(patch.read_text(errors="replace")))
    return paths


def _reusable(runner: Runner, root: Path, tag: str, ours: set[str]) -> bool:
    """A cached checkout already at ``tag`` whose only changes are our patches: keep it as is,
    so file times do not change and the llama.cpp objects are not recompiled."""
    if not (root / ".git").exists():
        return False
    head = git_or_none(runner, root, "rev-parse", "HEAD")
    tagged = git_or_none(runner, root, "rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}")
    return head is not None and head == tagged and changed_files(runner, root) <= ours


def _is_repository_root(runner: Runner, path: Path) -> bool:
    """A usable git repository rooted at ``path``. A sdist may ship a submodule's ``.git``
    file pointing nowhere, and a plain tree may sit inside someone else's repository: both
    are plain directories."""
    if git_or_none(runner, path, "rev-parse", "--is-bare-repository") == "true":
        git_dir = git_or_none(runner, path, "rev-parse", "--absolute-git-dir")
        return git_dir is not None and Path(git_dir).resolve() == path
    top = git_or_none(runner, path, "rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == path


def _has_tag(runner: Runner, url: str, tag: str) -> bool:
    result = runner.run(
        ["git", "ls-remote", "--tags", "--", url, f"refs/tags/{tag}"],
        probe=True,
        quick=True,
        check=False,
        what=f"git ls-remote {url}",
    )
    if result.returncode != 0:
        last = (result.output.strip().splitlines() or ["no output"])[-1]
        raise SourceError(
            f"cannot read llama.cpp tags from {url}: {last}",
            hint="check --llama-cpp-source (git URL, local clone or llama.cpp directory)",
        )
    return bool(result.output.strip())


def _from_git(spec: LlamaCppSpec, url: str, ours: set[str], runner: Runner) -> LlamaCppSource:
    root = spec.workdir / "sources" / source_slug(url)
    ref = spec.tag
    note = None
    if not _reusable(runner, root, spec.tag, ours):
        if not _has_tag(runner, url, spec.tag):
            where = ""
            if Path(url).is_dir():
                where = f" (its HEAD is {git_or_none(runner, Path(url), 'describe', '--tags')})"
            message = f"{url} has no tag {spec.tag}, the llama.cpp version this Ollama pins{where}"
            if not spec.accept_unverified:
                raise SourceError(
                    message,
                    hint=f"pass a clone that has tag {spec.tag}, or {OVERRIDE_FLAG} to build "
                    "its HEAD instead (recorded as unverified)",
                )
            reporter.warning(f"{message}; building its HEAD ({OVERRIDE_FLAG}). {COUPLING}")
            ref, note = "HEAD", f"source has no tag {spec.tag}; its HEAD was used"
        # Differences that are only our own patches may be discarded: they are re-applied.
        force = spec.force or (root.exists() and changed_files(runner, root) <= ours)
        prepare_source(
            SourceSpec(url=url, ref=ref, workdir=spec.workdir, force=force),
            runner,
        )
    commit = git_or_none(runner, root, "rev-parse", "HEAD")
    describe = git_or_none(runner, root, "describe", "--tags", "--always", "HEAD")
    return LlamaCppSource(
        root=root,
        source=url,
        kind="git",
        wanted=spec.tag,
        ref=ref,
        commit=commit,
        describe=describe,
        verified=ref == spec.tag,
        patches=(),
        note=note,
    )


def _fingerprint(tree: Path) -> dict[str, int]:
    """Cheap change detector for a plain source directory: file count, bytes, newest mtime."""
    count = size = newest = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            stat = Path(dirpath, name).lstat()
            count, size, newest = count + 1, size + stat.st_size, max(newest, stat.st_mtime_ns)
    return {"files": count, "bytes": size, "newest_mtime_ns": newest}


def _copy_directory(source: Path, dest: Path, runner: Runner) -> None:
    """Copy ``source`` to ``dest`` unless an unchanged copy is already there.

    Modification times are preserved (copy2), so an unchanged tree keeps its objects.
    """
    marker = dest.with_name(dest.name + ".source.json")
    wanted = {"source": str(source), **_fingerprint(source)}
    if dest.is_dir() and marker.is_file() and json.loads(marker.read_text()) == wanted:
        return
    if runner.dry_run:
        reporter.info(f"would copy {source} to {dest}")
        return
    if dest.exists():
        shutil.rmtree(dest)
    marker.unlink(missing_ok=True)
    with reporter.step(f"Copy llama.cpp from {source}"):
        shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    marker.write_text(json.dumps(wanted))


def _from_directory(spec: LlamaCppSpec, tree: Path, runner: Runner) -> LlamaCppSource:
    if not (tree / "CMakeLists.txt").is_file() or not (tree / "ggml").is_dir():
        nested = tree / "thirdparty" / "llama.cpp"
        hint = (
            f"pass {nested}"
            if (nested / "CMakeLists.txt").is_file()
            else "pass a llama.cpp git clone, URL, or source directory (with ggml/)"
        )
        raise SourceError(f"{tree} is not a llama.cpp source tree", hint=hint)
    message = (
        f"{tree} is not a git repository, so nothing proves it is llama.cpp {spec.tag} "
        "(LLAMA_CPP_VERSION of this Ollama)"
    )
    if not spec.accept_unverified:
        raise SourceError(
            message,
            hint=f"pass a llama.cpp clone or URL that has tag {spec.tag}, or {OVERRIDE_FLAG} "
            "if you know this tree matches (the build then records it as unverified)",
        )
    reporter.warning(f"{message}; using it anyway ({OVERRIDE_FLAG}). {COUPLING}")
    dest = spec.workdir / "sources" / f"llama.cpp-dir-{source_slug(str(tree))}"
    _copy_directory(tree, dest, runner)
    return LlamaCppSource(
        root=dest,
        source=str(tree),
        kind="directory",
        wanted=spec.tag,
        ref=None,
        commit=None,
        describe=None,
        verified=False,
        patches=(),
        note="plain directory: version not provable",
    )


def apply_compat_patches(root: Path, compat: CompatPatch, cmake: Path, runner: Runner) -> None:
    """Run Ollama's own applier in ``root``: idempotent (an applied patch is skipped) and
    exactly what the superbuild would run after its clone."""
    runner.run(
        [str(cmake), f"-D{compat.define}={compat.target}", "-P", str(compat.script)],
        cwd=root,
        what="apply Ollama's llama/compat patches",
        hint="the patches do not fit this llama.cpp tree; use the tag in LLAMA_CPP_VERSION",
    )


def prepare_llama_cpp(
    spec: LlamaCppSpec, compat: CompatPatch | None, cmake: Path, runner: Runner
) -> LlamaCppSource:
    """Fetch or copy, check and patch the llama.cpp tree; see the module docstring."""
    ours = patched_paths(compat) if compat is not None else set()
    local = Path(spec.source).expanduser()
    if local.exists():
        local = local.resolve()
        if _is_repository_root(runner, local):
            prepared = _from_git(spec, str(local), ours, runner)
        else:
            prepared = _from_directory(spec, local, runner)
    else:
        prepared = _from_git(spec, spec.source, ours, runner)
    if compat is None:
        reporter.warning("this Ollama tree has no llama/compat/apply-patch.cmake; no patches")
        return prepared
    with reporter.step("Apply Ollama's llama/compat patches to llama.cpp"):
        apply_compat_patches(prepared.root, compat, cmake, runner)
    names = tuple(str(p.relative_to(compat.script.parent)) for p in compat.patches)
    return replace(prepared, patches=names)
