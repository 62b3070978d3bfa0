"""What a release tag newer than the registry holds for this tool: is its tree recognised, did
its stock arch lists move, do the patch series still apply.

Each tag is judged from the few files the tool reads anyway (the generation signatures,
presets, pins, the files the patch series touch), written out of git into a scratch directory
that stands in for the tree; the same code a build uses then reads it (``source.ollama_tree``,
``patching.check_patches``). A tag is a *surprise* when any answer differs from what the
registry expects for it: the generation its tag range names, that row's newest stock lists,
every current series of that generation applying.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from build_tools.errors import UnknownLayoutError
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.patching import (
    PREVIEW_CONTEXT,
    PatchState,
    Series,
    check_patches,
    load_all_series,
    render_series,
)
from build_tools.patching.apply import touched_paths
from build_tools.runner import Runner
from build_tools.source.ollama_tree import detect_generation, read_tree, stock_lists_of
from build_tools.upstream.repository import Repository, extract_files, fetch_tags, release_tags

__all__ = [
    "SeriesResult",
    "TagReport",
    "UpstreamReport",
    "check_tag",
    "check_upstream",
    "tree_paths",
]

# Files and directories read_tree() looks at besides each generation's signature files.
_TREE_READS = ("CMakeLists.txt", "go.mod", "discover", "ml/device.go", "llama/compat", "cmake")


@dataclass(frozen=True, kw_only=True)
class SeriesResult:
    name: str
    declared: str  # the tag range the series was written and checked for
    covers: bool  # the tag lies in it (a build selects a default series only then)
    state: str  # a PatchState value, or "not checked"
    detail: str  # where it conflicts, or why it was not checked

    @property
    def conflicts(self) -> bool:
        return self.state == PatchState.CONFLICT.value

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.name,
            "declared": self.declared,
            "covers": self.covers,
            "state": self.state,
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True)
class TagReport:
    tag: OllamaVersion
    expected: Generation  # what the registry's tag ranges say this tag is
    generation: Generation | None  # what its files say; None: no known layout
    missing: tuple[str, ...]  # signature files of ``expected`` the tree lacks
    stock_tree: dict[int, str] = field(default_factory=dict)
    stock_table: dict[int, str] = field(default_factory=dict)
    llama_cpp: str | None = None
    # The programs its CPU build installs and the libraries beside them, where the generation
    # reads them from the tree
    server_programs: tuple[str, ...] | None = None
    server_libraries: tuple[str, ...] | None = None
    series: tuple[SeriesResult, ...] = ()
    problem: str | None = None  # a file of the tree that could not be read

    @property
    def recognised(self) -> bool:
        return self.generation is not None and self.generation.name == self.expected.name

    def stock_changes(self) -> list[str]:
        changes = []
        for major in sorted(set(self.stock_tree) | set(self.stock_table)):
            tree, table = self.stock_tree.get(major), self.stock_table.get(major)
            if tree == table:
                continue
            if table is None:
                changes.append(f"CUDA {major} stock list is new: {tree}")
            elif tree is None:
                changes.append(f"CUDA {major} stock list is gone (table: {table})")
            else:
                changes.append(f"CUDA {major} stock list changed: {table} -> {tree}")
        return changes

    def surprises(self) -> list[str]:
        found = []
        lacking = f" (lacks {', '.join(self.missing)})" if self.missing else ""
        if self.generation is None:
            found.append(f"no known source layout; expected {self.expected}{lacking}")
        elif not self.recognised:
            found.append(f"looks like {self.generation}, expected {self.expected}{lacking}")
        if self.problem is not None:
            found.append(self.problem)
        if self.recognised and self.problem is None:
            found.extend(self.stock_changes())
            found.extend(self._server_install_surprises())
        found.extend(
            f"series {s.name} does not apply: {s.detail}" for s in self.series if s.conflicts
        )
        return found

    def _server_install_surprises(self) -> list[str]:
        """The build makes only the shipped programs and what they link, and the install rules
        are OPTIONAL: a program or library it does not make would be missing from the package
        without a word."""
        if self.generation is None:
            return []
        where = self.generation.tree.server_install
        found = []
        if self.server_programs == ():
            found.append(
                f"{where}: no install(TARGETS ... RUNTIME DESTINATION ${{_base_dest}}) line names "
                "the programs the CPU build ships; the build would fall back to its built-in list"
            )
        if self.server_libraries == ():
            found.append(
                f"{where}: no install(TARGETS ${{list}} ... LIBRARY DESTINATION ${{_base_dest}}) "
                "line names the libraries the CPU build ships"
            )
        known = self.generation.tree.server_linked_libraries
        unknown = [name for name in self.server_libraries or () if name not in known]
        if unknown:
            found.append(
                f"{where} installs {', '.join(unknown)}, which the shipped programs are not known "
                "to link: the build would leave them out without a word; check the configured "
                "tree (ninja -t query) and add them to the registry's server_linked_libraries"
            )
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": str(self.tag),
            "expected_generation": self.expected.name,
            "generation": None if self.generation is None else self.generation.name,
            "recognised": self.recognised,
            "missing_signature_files": list(self.missing),
            "stock_lists": {
                "tree": {str(k): v for k, v in sorted(self.stock_tree.items())},
                "table": {str(k): v for k, v in sorted(self.stock_table.items())},
                "changes": self.stock_changes(),
            },
            "llama_cpp": self.llama_cpp,
            "server_programs": None if self.server_programs is None else list(self.server_programs),
            "server_libraries": (
                None if self.server_libraries is None else list(self.server_libraries)
            ),
            "series": [s.to_json() for s in self.series],
            "surprises": self.surprises(),
        }


def tree_paths(series: Sequence[Series]) -> list[str]:
    """Everything the checks read of a tree: signatures, presets, pins, patched files."""
    paths = set(_TREE_READS)
    for generation in registry().generations:
        signature = generation.tree
        paths.update(signature.files)
        for optional in (
            signature.presets_file,
            signature.llama_cpp_pin,
            signature.go_ldflags,
            signature.server_install,
        ):
            if optional is not None:
                paths.add(optional)
    for one in series:
        # A series with one patch per range of releases: every range's patch may be tried.
        versions: list[OllamaVersion | None] = [r.first_tag for r in one.ranges] or [None]
        for version in versions:
            for patch in render_series(one, PREVIEW_CONTEXT, version):
                paths.update(touched_paths(patch))
    return sorted(paths)


def _continues(series: Series, known_through: OllamaVersion) -> bool:
    """A series meant to keep up with new tags: open-ended, or checked up to the newest tag
    the registry knows."""
    return series.last_tag is None or series.last_tag >= known_through


def _check_one(
    root: Path, tag: OllamaVersion, one: Series, runner: Runner, known_through: OllamaVersion
) -> tuple[str, str]:
    """State and detail of one series of the tree's generation."""
    if one.target != "ollama":
        return "not checked", f"patches {one.target}"
    covers = one.covers(tag)
    if not covers and not _continues(one, known_through):
        return "not checked", f"its range ended at {one.last_tag}, before {known_through}"
    checks = check_patches(root, render_series(one, PREVIEW_CONTEXT, tag), runner)
    conflict = next((c for c in checks if c.state is PatchState.CONFLICT), None)
    if conflict is not None:
        where = conflict.conflict.describe() if conflict.conflict else "conflict"
        return conflict.state.value, f"{conflict.patch.name}: {where}"
    applied = bool(checks) and all(c.state is PatchState.ALREADY_APPLIED for c in checks)
    state = PatchState.ALREADY_APPLIED if applied else PatchState.APPLIES
    return state.value, "" if covers else f"its range {one.range_text} leaves this tag out"


def _check_series(
    root: Path,
    tag: OllamaVersion,
    generation: Generation,
    series: Sequence[Series],
    runner: Runner,
    *,
    known_through: OllamaVersion,
) -> tuple[SeriesResult, ...]:
    results = []
    for one in series:
        if generation.name not in one.generations:
            continue
        state, detail = _check_one(root, tag, one, runner, known_through)
        results.append(
            SeriesResult(
                name=one.name,
                declared=one.range_text,
                covers=one.covers(tag),
                state=state,
                detail=detail,
            )
        )
    return tuple(results)


def _read(root: Path, report: TagReport) -> TagReport:
    """The stock lists and llama.cpp pin of a recognised tree; a broken file is a problem."""
    assert report.generation is not None
    try:
        facts = read_tree(root)
    except UnknownLayoutError as error:
        return replace(report, problem=error.message)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        presets = report.generation.tree.presets_file
        return replace(report, problem=f"cannot read {presets}: {error}")
    return replace(
        report,
        stock_tree=stock_lists_of(facts.generation, facts.presets),
        llama_cpp=facts.llama_cpp_version,
        server_programs=facts.server_programs if facts.generation.tree.server_install else None,
        server_libraries=facts.server_libraries if facts.generation.tree.server_install else None,
    )


def check_tag(
    repository: Repository,
    tag: OllamaVersion,
    series: Sequence[Series],
    runner: Runner,
) -> TagReport:
    """Everything ``upstream check`` says about one tag (see the module docstring)."""
    rows = registry()
    expected = rows.for_version(tag)
    table = expected.stock_lists(tag)
    with tempfile.TemporaryDirectory(prefix="build-tools-upstream-") as temp:
        root = Path(temp) / "tree"
        root.mkdir()
        extract_files(repository, tag, tree_paths(series), root, runner)
        missing = tuple(f for f in expected.tree.files if not (root / f).is_file())
        try:
            generation: Generation | None = detect_generation(root)
        except UnknownLayoutError:
            generation = None
        report = TagReport(
            tag=tag,
            expected=expected,
            generation=generation,
            missing=missing,
            stock_table=dict(table.lists) if table is not None else {},
        )
        if generation is None:
            return report
        report = _read(root, report)
        return replace(
            report,
            series=_check_series(
                root, tag, generation, series, runner, known_through=rows.known_through()
            ),
        )


@dataclass(frozen=True, kw_only=True)
class UpstreamReport:
    source: str
    since: OllamaVersion  # tags after this one were checked
    since_given: bool  # --since; else the registry's newest known tag
    newest: OllamaVersion | None  # the newest release tag of the source
    tags: tuple[TagReport, ...]  # oldest first

    @property
    def surprising(self) -> list[TagReport]:
        return [t for t in self.tags if t.surprises()]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "since": str(self.since),
            "since_from": "--since" if self.since_given else "registry",
            "newest_tag": None if self.newest is None else str(self.newest),
            "tags": [t.to_json() for t in self.tags],
            "surprise": bool(self.surprising),
        }


def check_upstream(
    repository: Repository,
    since: OllamaVersion | None,
    runner: Runner,
    *,
    timeout: float,
) -> UpstreamReport:
    """Check every release tag of ``repository`` after ``since`` (default: the newest tag the
    registry knows)."""
    start = registry().known_through() if since is None else since
    tags = release_tags(repository, runner, timeout)
    new = [t for t in tags if t > start]
    fetch_tags(repository, new, runner, timeout)
    series = load_all_series()
    return UpstreamReport(
        source=repository.source,
        since=start,
        since_given=since is not None,
        newest=tags[-1] if tags else None,
        tags=tuple(check_tag(repository, tag, series, runner) for tag in new),
    )
