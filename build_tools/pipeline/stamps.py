"""Stamps that let an unchanged re-run skip the work Ninja cannot see: install and Go link.

Ninja already answers "no work to do" for the native code. What comes after it is ours: the
staging tree was wiped and re-installed (``cmake --install --strip`` rewrites every library),
``go build`` relinked ``bin/ollama`` (seconds), and everything downstream then had to re-read
the new files. A stamp in ``<workdir>/stamps/<slug>/`` records, after a successful step, what
its result was made from; the next run compares and skips the step when all of it is equal:

* ``staging.json``: the configure and install commands. The staging tree is wiped only when
  they changed (files of another plan must not leak into this one);
* ``install.json``: the install commands, the facts (size, mtime, inode) of the libraries and
  executables in the build trees, and the facts of the staging tree as the build left it;
* ``go.json``: the ``go build`` command line (ldflags included), the Go version, the
  environment Go and cgo read (``GO*``, ``CGO_*``, ``CC``, ``CXX``, flags, ``PATH``), the source
  tree's state (HEAD, ``git status``, the diff and untracked files' hashes) and the facts of
  the binary it wrote.

A stamp is written only after its step succeeded and is removed before a step that may fail
runs, so a failed or interrupted build never leaves a stamp that claims a result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.build_plan import BuildPlan
from build_tools.errors import CommandFailedError
from build_tools.facts import HashCache, digest, file_facts, tree_facts
from build_tools.files import read_regular
from build_tools.recipes.base import Step
from build_tools.runner import Runner
from build_tools.source.git import git
from build_tools.toolkit.pathmap import NVCC_LAUNCHER_DIR

__all__ = [
    "Skipped",
    "Stamps",
    "audited_once",
    "binary_facts",
    "build_products",
    "changes_go_output",
    "go_inputs",
    "staging_facts",
    "step_inputs",
]

STAMP_LIMIT = 1 << 20

# Variables that change what `go build` (and the C compiler cgo runs) produces. GOCACHE,
# GOMODCACHE, GOPATH and GOTMPDIR only say where things are kept, not what is built.
_GO_NEUTRAL = frozenset({"GOCACHE", "GOMODCACHE", "GOPATH", "GOTMPDIR", "GOENV"})
_NAMES = frozenset(
    {
        "CC",
        "CXX",
        "AR",
        "CFLAGS",
        "CXXFLAGS",
        "CPPFLAGS",
        "LDFLAGS",
        "CPATH",
        "C_INCLUDE_PATH",
        "CPLUS_INCLUDE_PATH",
        "LIBRARY_PATH",
        "PKG_CONFIG_PATH",
        "PATH",
    }
)


def changes_go_output(name: str) -> bool:
    """Whether ``name`` is part of the environment a Go link depends on."""
    if name in _NAMES or name.startswith("CGO_"):
        return True
    return name.startswith("GO") and name not in _GO_NEUTRAL


@dataclass(frozen=True)
class Skipped:
    """A step a re-run did not run, and why."""

    name: str
    title: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"step": self.name, "title": self.title, "why": self.why}


def step_inputs(steps: Sequence[Step]) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "argv": list(s.argv),
            "env": dict(sorted((s.env or {}).items())),
            "cwd": None if s.cwd is None else str(s.cwd),
        }
        for s in steps
    ]


def _tree_state(root: Path, runner: Runner, hashes: HashCache) -> dict[str, Any] | None:
    """HEAD, the status, the diff and the untracked files' hashes: equal only if every file Go
    could compile is. None when the tree is not a git checkout (then Go always links)."""
    try:
        head = git(runner, root, "rev-parse", "HEAD")
        status = git(
            runner, root, "status", "--porcelain=v1", "-z", "--untracked-files=all", strip=False
        )
        diff = git(
            runner, root, "diff", "--no-color", "--no-ext-diff", "--binary", "HEAD", strip=False
        )
    except CommandFailedError:
        return None
    untracked = sorted(e[3:] for e in status.split("\0") if e.startswith("?? "))
    return {
        "head": head,
        "status": digest(status),
        "diff": digest(diff),
        "untracked": {p: hashes.sha256(root / p) for p in untracked if (root / p).is_file()},
    }


def go_inputs(
    plan: BuildPlan, step: Step, runner: Runner, hashes: HashCache
) -> dict[str, Any] | None:
    tree = _tree_state(plan.checkout.root, runner, hashes)
    if tree is None:
        return None
    environment = runner.environment_for(step.env)
    return {
        "step": step_inputs([step]),
        "go": [str(plan.options.go), plan.options.go_version],
        "env": {k: v for k, v in sorted(environment.items()) if changes_go_output(k)},
        "tree": tree,
    }


class Stamps:
    """The stamp files of one source checkout's build in a work directory."""

    def __init__(self, plan: BuildPlan) -> None:
        self.dir = plan.options.workdir / "stamps" / plan.slug
        self.hashes = HashCache(self.dir / "file-hashes.json")

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def read(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads(read_regular(self._path(name), limit=STAMP_LIMIT))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def matches(self, name: str, expected: Mapping[str, Any]) -> bool:
        return bool(self.read(name) == json.loads(json.dumps(expected, sort_keys=True)))

    def write(self, name: str, data: Mapping[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(name)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(data, sort_keys=True, indent=1))
        partial.replace(path)

    def drop(self, *names: str) -> None:
        for name in names:
            self._path(name).unlink(missing_ok=True)


def audited_once(
    stamps: Stamps | None,
    binary: Path,
    expected: Mapping[str, str],
    audit: Callable[[Path, Mapping[str, str]], dict[str, str]],
) -> dict[str, str]:
    """``audit(binary, expected)``, remembered in ``go-audit.json`` against the binary's facts.

    Reading the Go variables walks the symbol table and relocations of a binary of 50 MB and
    more: on an unchanged v0.6.8 re-run that was most of the 3 s. An audit that failed is
    never remembered, and any change to the binary (relinked, replaced) changes its facts.
    """
    facts = binary_facts(binary)
    key = {"binary": facts, "expected": dict(expected)}
    if stamps is not None and facts is not None:
        seen = stamps.read("go-audit") or {}
        found = seen.get("found")
        if (
            seen.get("key") == json.loads(json.dumps(key))
            and isinstance(found, dict)
            and all(isinstance(v, str) for v in found.values())
        ):
            return {str(k): v for k, v in found.items()}
    found = audit(binary, expected)
    if stamps is not None and facts is not None:
        stamps.write("go-audit", {"key": key, "found": found})
    return found


def binary_facts(path: Path) -> list[int] | None:
    try:
        return list(file_facts(path.stat()))
    except OSError:
        return None


def build_products(plan: BuildPlan) -> str:
    """The facts of every library and executable the build trees hold (what an install
    copies), as one digest; object files, logs and stamps do not count, nor the nvcc
    launcher's preloaded library: it is ours, rebuilt by every run, and no install copies it."""
    skip = frozenset({"CMakeFiles", NVCC_LAUNCHER_DIR})
    return digest(tree_facts(plan.build_dir, only_products=True, skip_dirs=skip))


def staging_facts(plan: BuildPlan) -> str:
    return digest(tree_facts(plan.staging_dir))
