"""Build the same ref and plan twice from scratch and compare every byte.

Each build runs the whole pipeline (:func:`~build_tools.pipeline.run.run_build`) in its own
fresh work directory (its own clone, build trees, staging tree and dist directory), so nothing
can be shared between the two but the inputs: the ref, the plan, the toolkit and
SOURCE_DATE_EPOCH (the commit time unless set). The two work directories lie under different
parents and differ in length, so a path that leaks into an output shows. The packaged
artifacts are compared by name, the staging trees and the CUDA objects of the build trees file
by file, which names the file that made an artifact differ; for a CUDA library or object the
differing fatbin entries (and the hashed names in them) say why.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from build_tools.audit.difference import explain_library_difference
from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.files import sha256_file
from build_tools.pipeline.run import BuildResult, run_build
from build_tools.runner import Runner
from build_tools.settings.commands import BuildSettings
from build_tools.settings.groups import WorkdirSettings

__all__ = [
    "Comparison",
    "Difference",
    "FileFacts",
    "compare_builds",
    "compare_trees",
    "explain",
    "snapshot_tree",
]

Scope = Literal["artifact", "staging", "object"]
# The CUDA objects of the build trees: a process id or path that the strip at install removes
# from the libraries still shows here.
CUDA_OBJECTS = "*.cu.o"


@dataclass(frozen=True, kw_only=True)
class FileFacts:
    size: int
    sha256: str
    link: str | None = None  # a symlink's target (then size/sha256 are of the target text)

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256, "link": self.link}


@dataclass(frozen=True, kw_only=True)
class Difference:
    scope: Scope
    path: str
    a: FileFacts | None  # None: missing from that build
    b: FileFacts | None
    cause: str | None = None  # what differs inside, where that can be told

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "path": self.path,
            "a": None if self.a is None else self.a.to_json(),
            "b": None if self.b is None else self.b.to_json(),
            "cause": self.cause,
        }


def _facts(path: Path) -> FileFacts:
    if path.is_symlink():
        target = str(path.readlink())
        return FileFacts(
            size=len(target), sha256=hashlib.sha256(target.encode()).hexdigest(), link=target
        )
    return FileFacts(size=path.stat().st_size, sha256=sha256_file(path))


def snapshot_tree(root: Path, pattern: str = "*") -> dict[str, FileFacts]:
    """Relative path -> facts for every file and symlink under ``root`` matching ``pattern``."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): _facts(p)
        for p in sorted(root.rglob(pattern))
        if p.is_symlink() or p.is_file()
    }


def explain(difference: Difference, root_a: Path, root_b: Path) -> str | None:
    """What differs inside a file that differs, where that can be told; else None."""
    if difference.a is None or difference.b is None:
        return "only in build " + ("B" if difference.a is None else "A")
    if difference.a.link is not None or difference.b.link is not None:
        return "the link targets differ"
    name = Path(difference.path).name
    if name == "SHA256SUMS" or name.endswith(".json"):
        return "lists the checksums of the files that differ"
    if difference.scope == "artifact":
        return "an archive of the staging tree: the staging files that differ are the cause"
    return explain_library_difference(root_a / difference.path, root_b / difference.path)


def compare_trees(
    scope: Scope, a: dict[str, FileFacts], b: dict[str, FileFacts]
) -> list[Difference]:
    return [
        Difference(scope=scope, path=path, a=a.get(path), b=b.get(path))
        for path in sorted(a.keys() | b.keys())
        if a.get(path) != b.get(path)
    ]


@dataclass(frozen=True, kw_only=True)
class Comparison:
    root: Path  # holds the work directories a/ and b/
    builds: tuple[BuildResult, BuildResult]
    differences: tuple[Difference, ...]
    counts: dict[str, int]  # files compared per scope

    def not_path_independent(self) -> str | None:
        """Why a build of the two was not path-independent (so the work directories' paths
        can explain a difference), or None when both were."""
        for build in self.builds:
            record = build.plan.reproducibility
            if record is not None and not record.path_independent:
                return record.reason or "no reason recorded"
        return None

    def to_json(self) -> dict[str, Any]:
        plan = self.builds[0].plan
        package = self.builds[0].package
        return {
            "identical": not self.differences,
            "source": plan.to_json()["source"],
            "cuda_architectures": plan.arch_plan.cuda_architectures,
            "source_date_epoch": None if package is None else package.source_date_epoch,
            "compared": self.counts,
            "builds": [
                {
                    "workdir": str(b.plan.options.workdir),
                    "staging_dir": str(b.plan.staging_dir),
                    "dist_dir": str(None if b.package is None else b.package.dist_dir),
                    "reproducibility": None
                    if b.plan.reproducibility is None
                    else b.plan.reproducibility.to_json(),
                }
                for b in self.builds
            ],
            "differences": [d.to_json() for d in self.differences],
        }


def _settings_for(settings: BuildSettings, workdir: Path) -> BuildSettings:
    return replace(
        settings,
        workdir=WorkdirSettings(workdir=workdir),
        package=replace(settings.package, dist_dir=workdir / "dist"),
        verify=False,
    )


def workdirs(root: Path) -> tuple[Path, Path]:
    """The two work directories: under different parents, of different lengths, so that any
    absolute path (or its length) that reaches an output makes the builds differ."""
    return root / "a", root / "elsewhere" / "b"


def compare_builds(settings: BuildSettings, base: Path, runner: Runner) -> Comparison:
    """Two complete builds of ``settings`` in fresh directories under ``base``, compared."""
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="verify-", dir=base))
    results = []
    for workdir in workdirs(root):
        # Not a reporter.step: on GitHub Actions each step of the build folds on its own.
        reporter.info(f"▶ build {workdir.name.upper()} in {workdir}")
        results.append(run_build(_settings_for(settings, workdir), runner))
    first, second = results
    if first.plan.checkout.commit != second.plan.checkout.commit:
        raise ConfigurationError(
            f"the ref '{settings.source.ref}' moved between the two builds "
            f"({first.plan.checkout.commit[:12]}, {second.plan.checkout.commit[:12]})",
            hint="pin a tag or a commit with --ref",
        )
    differences: list[Difference] = []
    counts = {"artifact": 0, "staging": 0, "object": 0}
    pairs: list[tuple[Scope, Path | None, Path | None, str]] = [
        (
            "artifact",
            None if first.package is None else first.package.dist_dir,
            None if second.package is None else second.package.dist_dir,
            "*",
        ),
        ("staging", first.plan.staging_dir, second.plan.staging_dir, "*"),
        ("object", first.plan.build_dir, second.plan.build_dir, CUDA_OBJECTS),
    ]
    for scope, tree_a, tree_b, pattern in pairs:
        if tree_a is None or tree_b is None:
            continue
        a, b = snapshot_tree(tree_a, pattern), snapshot_tree(tree_b, pattern)
        counts[scope] = len(a.keys() | b.keys())
        differences += [
            replace(d, cause=explain(d, tree_a, tree_b)) for d in compare_trees(scope, a, b)
        ]
    return Comparison(
        root=root, builds=(first, second), differences=tuple(differences), counts=counts
    )
