"""Get the Ollama source for a ref into the cache, or use an existing tree in place.

``git ls-remote`` first asks the source whether it has the ref: a missing one is named before
anything is fetched or created. Then only what the ref needs is fetched (``git fetch --depth 1``
of that tag, branch or commit) into ``<workdir>/sources/<slug>``, one checkout per source URL
so that build directories stay valid across runs. A first checkout is made in a scratch
directory beside it and renamed into place when complete, so a failed or killed fetch leaves
nothing a later run would trust. The resolved commit is recorded; a checkout with local
changes is never reused silently. Every value given to git has passed ``settings.parse``
(``git_ref``, ``source_location``: never an option) and follows ``--`` where git allows.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from build_tools.errors import CommandFailedError, ConfigurationError, SourceError
from build_tools.runner import Runner
from build_tools.source.git import git, status_lines
from build_tools.source.stamp import changes_are_ours, forget_applied_patches

__all__ = [
    "Checkout",
    "SourceError",
    "SourceSpec",
    "checkout_root",
    "prepare_source",
    "source_slug",
]

DEFAULT_SOURCE = "https://github.com/ollama/ollama.git"
# The release the test-suite's opt-in real-source tests build; see README.
DEFAULT_REF = "v0.24.0"
# A ref that may be a commit: the only kind git ls-remote cannot confirm.
_SHA = re.compile(r"[0-9a-f]{7,40}\Z")
# Prefix of the scratch directory a first checkout is made in (next to its final place).
_PARTIAL = ".partial-"


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    url: str  # git URL or local repository path
    ref: str  # tag, branch or commit
    workdir: Path
    source_dir: Path | None = None  # build this tree in place instead
    force: bool = False  # discard local changes in a cached checkout


@dataclass(frozen=True, kw_only=True)
class Checkout:
    root: Path
    url: str
    ref: str
    commit: str
    commit_time: int  # committer time, the default SOURCE_DATE_EPOCH
    describe: str  # `git describe --tags` style, "v0.24.0" for a tag
    in_place: bool  # True for --source-dir (not managed by the cache)
    fetched: bool = True  # False: a dry run on a machine where the ref was never fetched

    @property
    def version(self) -> str:
        """The version Ollama's release scripts inject: describe output without the leading v."""
        return self.describe.removeprefix("v")


def source_slug(url: str) -> str:
    """A readable, collision-free directory name for a source URL or path."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1]).removesuffix(".git")
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"{name or 'source'}-{digest}"


def _local_url(url: str) -> str:
    """A source that exists on disk is named by its absolute path (one cache entry per repo)."""
    path = Path(url).expanduser()
    return str(path.resolve()) if path.exists() else url


def checkout_root(url: str, workdir: Path) -> Path:
    """Where the cached checkout of ``url`` lives under ``workdir``."""
    return workdir / "sources" / source_slug(_local_url(url))


def _describe(runner: Runner, root: Path, ref: str) -> str:
    result = runner.run(
        ["git", "-C", str(root), "describe", "--tags", "--exact-match", "HEAD"],
        probe=True,
        quick=True,
        check=False,
    )
    if result.returncode == 0 and result.output.strip():
        return result.output.strip()
    # Not exactly at a tag: mimic Ollama's scripts/env.sh (tag-count-gsha), else the ref/commit.
    result = runner.run(
        ["git", "-C", str(root), "describe", "--tags", "--abbrev=7", "--long", "--always"],
        probe=True,
        quick=True,
        check=False,
    )
    return result.output.strip() or ref


def _last_words(error: CommandFailedError) -> str:
    """What git said, in one line: its ``fatal:``/``error:`` line, else its last line."""
    lines = [line.strip() for line in error.output_tail.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else error.message


def _checkout_info(runner: Runner, root: Path, url: str, ref: str, in_place: bool) -> Checkout:
    try:
        commit = git(runner, root, "rev-parse", "--verify", "HEAD^{commit}")
        time = int(git(runner, root, "log", "-1", "--format=%ct", "HEAD"))
    except CommandFailedError as error:
        where = f"--source-dir {root}" if in_place else f"the cached checkout {root}"
        raise SourceError(
            f"{where} has no readable commit checked out ({_last_words(error)})",
            hint="pass an Ollama clone with a commit checked out"
            if in_place
            else f"delete {root} (it is a cache) and run again",
        ) from None
    return Checkout(
        root=root,
        url=url,
        ref=ref,
        commit=commit,
        commit_time=time,
        describe=_describe(runner, root, ref),
        in_place=in_place,
    )


def _remote_refs(runner: Runner, url: str, ref: str) -> set[str]:
    """The refs of ``url`` that ``ref`` names (``git ls-remote``: nothing is fetched)."""
    try:
        result = runner.run(
            ["git", "ls-remote", "--", url, ref],
            probe=True,
            quick=True,
            # A probe never waits for a password: use a credential helper or an SSH key.
            env={"GIT_TERMINAL_PROMPT": "0"},
            what=f"git ls-remote {url}",
        )
    except CommandFailedError as error:
        raise SourceError(
            f"cannot fetch '{ref}' from {url}: the repository cannot be read "
            f"({_last_words(error)})",
            hint="check --source: a git URL or the path of a local repository",
        ) from None
    names = {line.split("\t", 1)[1].strip() for line in result.output.splitlines() if "\t" in line}
    return names & {ref, f"refs/tags/{ref}", f"refs/heads/{ref}"}


def _fetch(runner: Runner, root: Path, url: str, ref: str, remote: set[str]) -> None:
    """Fetch only ``ref`` (shallow) into FETCH_HEAD; a commit SHA the server will not serve
    shallowly is found with one full fetch."""
    base = ["git", "-C", str(root), "fetch", "--depth", "1", "--no-tags", "--"]
    # A tag is fetched into refs/tags so that `git describe` names it; anything else only
    # lands in FETCH_HEAD.
    refspec = f"+refs/tags/{ref}:refs/tags/{ref}" if f"refs/tags/{ref}" in remote else ref
    result = runner.run([*base, url, refspec], what=f"git fetch {ref}", check=False)
    if result.returncode == 0:
        return
    if remote or not _SHA.match(ref):
        raise SourceError(
            f"cannot fetch '{ref}' from {url}: "
            + ((result.output.strip().splitlines() or ["no output"])[-1]),
            hint="check --source (git URL or local repository) and --ref (tag, branch, commit)",
        )
    runner.run(
        ["git", "-C", str(root), "fetch", "--tags", "--", url],
        what=f"git fetch {url}",
        hint="check --source (URL or local repository path) and --ref",
    )
    runner.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"],
        what=f"resolve {ref}",
        hint=f"'{ref}' is not a tag, branch or commit of {url}",
    )
    runner.run(["git", "-C", str(root), "update-ref", "FETCH_HEAD", ref], what="git update-ref")


def _fetch_and_checkout(runner: Runner, root: Path, url: str, ref: str, remote: set[str]) -> None:
    try:
        _fetch(runner, root, url, ref, remote)
        runner.run(
            ["git", "-C", str(root), "checkout", "-q", "--detach", "FETCH_HEAD"],
            what="git checkout",
        )
    except CommandFailedError as error:
        raise SourceError(
            f"cannot fetch '{ref}' from {url}: {_last_words(error)}",
            hint="check --source (git URL or local repository) and --ref (tag, branch, commit)",
        ) from None


def _make_directory(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create {path}: {error.strerror}", hint="choose another --workdir"
        ) from None


def _fresh_checkout(runner: Runner, root: Path, url: str, ref: str, remote: set[str]) -> None:
    """A first checkout, made in a scratch directory next to ``root`` and renamed into place
    when complete: a failed or killed fetch never leaves a half-made checkout behind."""
    for leftover in root.parent.glob(f"{_PARTIAL}{root.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # an earlier run was killed
    if root.is_dir() and not root.is_symlink():
        # A directory without .git: what a killed run of an older version left. Not trusted.
        shutil.rmtree(root)
    elif root.exists() or root.is_symlink():
        root.unlink()
    scratch = Path(tempfile.mkdtemp(prefix=f"{_PARTIAL}{root.name}-", dir=root.parent))
    try:
        runner.run(["git", "init", "-q", str(scratch)], what="git init")
        _fetch_and_checkout(runner, scratch, url, ref, remote)
        scratch.rename(root)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def _reuse_checkout(runner: Runner, root: Path, force: bool) -> None:
    """A cached checkout before the next fetch: local changes refused (ours reset)."""
    try:
        changes = status_lines(runner, root)
        ours = bool(changes) and changes_are_ours(root, runner)  # only our patch series
    except CommandFailedError as error:
        raise SourceError(
            f"the cached checkout {root} is damaged ({_last_words(error)})",
            hint=f"delete {root} (it is a cache) and run again",
        ) from None
    if changes and not force and not ours:
        shown = "; ".join(changes[:5])
        raise SourceError(
            f"the cached checkout {root} has local changes ({shown})",
            hint="commit or remove them, or pass --force to discard them",
        )
    if changes:
        runner.run(["git", "-C", str(root), "reset", "-q", "--hard"], what="git reset")
    forget_applied_patches(root, runner)  # files our patches created, and the stamp


def prepare_source(spec: SourceSpec, runner: Runner) -> Checkout:
    """Return a checkout of ``spec.ref``; see the module docstring.

    The caller holds the work directory's lock (``build_tools.locks``): two runs never fetch
    into one checkout at once.
    """
    if spec.source_dir is not None:
        root = spec.source_dir.resolve()
        if not root.is_dir():
            raise SourceError(
                f"--source-dir {root} is not a directory", hint="pass the root of an Ollama clone"
            )
        if not (root / ".git").exists():
            raise SourceError(
                f"--source-dir {root} is not a git checkout",
                hint="pass the root of an Ollama clone",
            )
        return _checkout_info(runner, root, str(root), spec.ref, in_place=True)

    url = _local_url(spec.url)
    root = checkout_root(spec.url, spec.workdir)
    if runner.dry_run and not (root / ".git").exists():
        runner.run(["git", "ls-remote", "--", url, spec.ref])
        runner.run(["git", "init", "-q", str(root)])
        runner.run(["git", "-C", str(root), "fetch", "--depth", "1", "--", url, spec.ref])
        runner.run(["git", "-C", str(root), "checkout", "--detach", "FETCH_HEAD"])
        return Checkout(
            root=root,
            url=url,
            ref=spec.ref,
            commit="(dry run)",
            commit_time=0,
            describe=spec.ref,
            in_place=False,
            fetched=False,
        )
    # Asked before anything is written: a ref that is not there is named as such.
    remote = _remote_refs(runner, url, spec.ref)
    if not remote and not _SHA.match(spec.ref):
        raise SourceError(
            f"'{spec.ref}' is not a tag or branch of {url}",
            hint=f"list them with: git ls-remote --tags --heads {url}",
        )
    _make_directory(root.parent)
    if (root / ".git").exists():
        _reuse_checkout(runner, root, spec.force)
        _fetch_and_checkout(runner, root, url, spec.ref, remote)
    else:
        _fresh_checkout(runner, root, url, spec.ref, remote)
    return _checkout_info(runner, root, url, spec.ref, in_place=False)
