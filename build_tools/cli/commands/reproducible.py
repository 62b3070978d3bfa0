"""``verify-reproducible``: build the same ref and plan twice from scratch, compare every byte.

Each build runs the real ``build`` command in its own fresh work directory (its own clone,
build trees, staging tree and dist directory), so nothing can be shared between the two but
the inputs: the ref, the plan, the toolkit and SOURCE_DATE_EPOCH (the commit time unless set).
The packaged artifacts are compared by name, and the staging trees file by file, which also
names the file that made an artifact differ.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from build_tools.cli.commands import build
from build_tools.cli.commands.common import print_json
from build_tools.console import Row, reporter
from build_tools.errors import ConfigurationError, NotReproducibleError
from build_tools.paths import default_cache_dir
from build_tools.runner import Runner
from build_tools.settings import Source

__all__ = ["NotReproducibleError", "compare_trees", "register", "snapshot_tree"]

Scope = Literal["artifact", "staging"]


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

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "path": self.path,
            "a": None if self.a is None else self.a.to_json(),
            "b": None if self.b is None else self.b.to_json(),
        }


def _facts(path: Path) -> FileFacts:
    if path.is_symlink():
        target = str(path.readlink())
        return FileFacts(
            size=len(target), sha256=hashlib.sha256(target.encode()).hexdigest(), link=target
        )
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return FileFacts(size=path.stat().st_size, sha256=digest.hexdigest())


def snapshot_tree(root: Path) -> dict[str, FileFacts]:
    """Relative path -> facts for every file and symlink under ``root``."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): _facts(p)
        for p in sorted(root.rglob("*"))
        if p.is_symlink() or p.is_file()
    }


def compare_trees(
    scope: Scope, a: dict[str, FileFacts], b: dict[str, FileFacts]
) -> list[Difference]:
    return [
        Difference(scope=scope, path=path, a=a.get(path), b=b.get(path))
        for path in sorted(a.keys() | b.keys())
        if a.get(path) != b.get(path)
    ]


@dataclass(frozen=True, kw_only=True)
class Built:
    workdir: Path
    summary: dict[str, Any]  # `build --json`

    @property
    def staging(self) -> Path:
        return Path(self.summary["staging_dir"])

    @property
    def dist(self) -> Path | None:
        # SWITCH: packaged artifacts. Compared when `build` packages (its --json has "package");
        # until then only the staging trees are compared.
        package = self.summary.get("package")
        return None if not package else Path(package["dist_dir"])


def _build_once(args: argparse.Namespace, workdir: Path, runner: Runner) -> Built:
    """The real `build` command into ``workdir``; its JSON summary read from stdout."""
    run_args = argparse.Namespace(**vars(args))
    run_args.workdir = workdir
    run_args.json = True
    run_args.verify = False
    if hasattr(run_args, "dist_dir"):
        run_args.dist_dir = workdir / "dist"
    captured = io.StringIO()
    # Not a reporter.step: on GitHub Actions each step of the build folds on its own.
    reporter.info(f"▶ build {workdir.name.upper()} in {workdir}")
    with contextlib.redirect_stdout(captured):
        build.run(run_args, runner)
    return Built(workdir=workdir, summary=json.loads(captured.getvalue()))


def _defaulted(args: argparse.Namespace, key: str) -> bool:
    resolved = getattr(args, "resolved_options", None)
    if resolved is None:
        return True
    return any(o.key == key and o.source is Source.DEFAULT for o in resolved.options)


def _report_json(
    builds: tuple[Built, Built], differences: list[Difference], counts: dict[str, int]
) -> dict[str, Any]:
    first = builds[0].summary
    package = first.get("package") or {}
    return {
        "identical": not differences,
        "source": first["source"],
        "cuda_architectures": first["plan"]["cuda_architectures"],
        "source_date_epoch": package.get("source_date_epoch"),
        "compared": counts,
        "builds": [
            {"workdir": str(b.workdir), "staging_dir": str(b.staging), "dist_dir": str(b.dist)}
            for b in builds
        ],
        "differences": [d.to_json() for d in differences],
    }


def _show(differences: list[Difference], counts: dict[str, int]) -> None:
    if not differences:
        reporter.info(
            f"identical: {counts['artifact']} artifacts and {counts['staging']} staging files "
            "are byte for byte the same in both builds"
        )
        return

    def cell(facts: FileFacts | None, field: str) -> str:
        if facts is None:
            return "(missing)"
        return str(facts.size) if field == "size" else facts.sha256[:16]

    rows = [
        Row(
            [
                d.scope,
                d.path,
                cell(d.a, "size"),
                cell(d.b, "size"),
                cell(d.a, "sha"),
                cell(d.b, "sha"),
            ]
        )
        for d in differences
    ]
    reporter.table(
        f"{len(differences)} files differ between the two builds",
        ["where", "file", "size A", "size B", "sha256 A", "sha256 B"],
        rows,
    )


def run(args: argparse.Namespace, runner: Runner) -> int:
    if runner.dry_run:
        raise ConfigurationError(
            "verify-reproducible builds twice to compare the results; a dry run cannot",
            hint="to see the commands, run `--dry-run build` with the same options",
        )
    if _defaulted(args, "compiler-cache"):
        # A compiler cache would hand the second build the first one's objects and hide
        # every non-deterministic compile; an explicit --compiler-cache is respected.
        args.compiler_cache = "none"
    base = Path(args.workdir or default_cache_dir() / "reproducible").resolve()
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="verify-", dir=base))
    builds = (_build_once(args, root / "a", runner), _build_once(args, root / "b", runner))
    first, second = (b.summary["source"]["commit"] for b in builds)
    if first != second:
        raise ConfigurationError(
            f"the ref '{args.ref}' moved between the two builds ({first[:12]}, {second[:12]})",
            hint="pin a tag or a commit with --ref",
        )
    differences: list[Difference] = []
    counts = {"artifact": 0, "staging": 0}
    pairs: list[tuple[Scope, Path | None, Path | None]] = [
        ("artifact", builds[0].dist, builds[1].dist),
        ("staging", builds[0].staging, builds[1].staging),
    ]
    for scope, tree_a, tree_b in pairs:
        if tree_a is None or tree_b is None:
            continue
        a, b = snapshot_tree(tree_a), snapshot_tree(tree_b)
        counts[scope] = len(a.keys() | b.keys())
        differences += compare_trees(scope, a, b)
    if args.json:
        print_json(_report_json(builds, differences, counts))
    else:
        _show(differences, counts)
    if differences:
        raise NotReproducibleError(
            f"the two builds differ in {len(differences)} files (first: {differences[0].path})",
            hint=f"both are kept in {root}; compare them with diffoscope",
        )
    if args.keep_workdirs:
        reporter.info(f"both builds are kept in {root}")
    else:
        shutil.rmtree(root)
    return 0


def _build_parser() -> argparse.ArgumentParser:
    """`build`'s own parser, so this command takes every build option and profile key."""
    subparsers = argparse.ArgumentParser(add_help=False).add_subparsers()
    build.register(subparsers)
    return subparsers.choices["build"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify-reproducible",
        parents=[_build_parser()],
        conflict_handler="resolve",  # the parent's -h/--help
        help="build twice in fresh work directories and check that the artifacts are "
        "byte-identical",
        description="Build the same ref and plan twice, each in a fresh work directory, and "
        "compare the packaged artifacts and staging trees file by file. Takes every build "
        "option (and --profile). Exit 14 when they differ.",
    )
    parser.add_argument(
        "--keep-workdirs",
        action="store_true",
        help="keep both work directories when the builds are identical (always kept when not)",
    )
    parser.set_defaults(func=run)
