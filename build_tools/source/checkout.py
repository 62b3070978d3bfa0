"""Get the Ollama source for a ref into the cache, or use an existing tree in place.

Only what the ref needs is fetched (``git fetch --depth 1`` of that tag, branch or commit) into
``<workdir>/sources/<slug>``, one checkout per source URL so that build directories stay valid
across runs. The resolved commit is recorded; a checkout with local changes is never reused
silently.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from build_tools.errors import CommandFailedError, SourceError
from build_tools.runner import Runner
from build_tools.source.git import git, status_lines
from build_tools.source.stamp import changes_are_ours, forget_applied_patches

__all__ = ["Checkout", "SourceError", "SourceSpec", "prepare_source", "source_slug"]

DEFAULT_SOURCE = "https://github.com/ollama/ollama.git"
# The release the test-suite's opt-in real-source tests build; see README.
DEFAULT_REF = "v0.24.0"


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

    @property
    def version(self) -> str:
        """The version Ollama's release scripts inject: describe output without the leading v."""
        return self.describe.removeprefix("v")


def source_slug(url: str) -> str:
    """A readable, collision-free directory name for a source URL or path."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1]).removesuffix(".git")
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"{name or 'source'}-{digest}"


def _describe(runner: Runner, root: Path, ref: str) -> str:
    result = runner.run(
        ["git", "-C", str(root), "describe", "--tags", "--exact-match", "HEAD"],
        probe=True,
        check=False,
    )
    if result.returncode == 0 and result.output.strip():
        return result.output.strip()
    # Not exactly at a tag: mimic Ollama's scripts/env.sh (tag-count-gsha), else the ref/commit.
    result = runner.run(
        ["git", "-C", str(root), "describe", "--tags", "--abbrev=7", "--long", "--always"],
        probe=True,
        check=False,
    )
    return result.output.strip() or ref


def _checkout_info(runner: Runner, root: Path, url: str, ref: str, in_place: bool) -> Checkout:
    commit = git(runner, root, "rev-parse", "HEAD")
    time = int(git(runner, root, "log", "-1", "--format=%ct", "HEAD"))
    return Checkout(
        root=root,
        url=url,
        ref=ref,
        commit=commit,
        commit_time=time,
        describe=_describe(runner, root, ref),
        in_place=in_place,
    )


def _fetch(runner: Runner, root: Path, url: str, ref: str) -> None:
    """Fetch only ``ref`` (shallow) into FETCH_HEAD; fall back to a full fetch for SHAs."""
    # A tag is fetched into refs/tags so that `git describe` names it; anything else only
    # lands in FETCH_HEAD.
    for refspec in (f"+refs/tags/{ref}:refs/tags/{ref}", ref):
        result = runner.run(
            ["git", "-C", str(root), "fetch", "--depth", "1", "--no-tags", url, refspec],
            what=f"git fetch {ref}",
            check=False,
        )
        if result.returncode == 0:
            return
    # A bare commit SHA that the server will not serve shallowly: fetch everything once.
    runner.run(
        ["git", "-C", str(root), "fetch", "--tags", url],
        what=f"git fetch {url}",
        hint="check --source (URL or local repository path) and --ref",
    )
    runner.run(
        ["git", "-C", str(root), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        what=f"resolve {ref}",
        hint=f"'{ref}' is not a tag, branch or commit of {url}",
    )
    runner.run(["git", "-C", str(root), "update-ref", "FETCH_HEAD", ref], what="git update-ref")


def prepare_source(spec: SourceSpec, runner: Runner) -> Checkout:
    """Return a checkout of ``spec.ref``; see the module docstring."""
    if spec.source_dir is not None:
        root = spec.source_dir.resolve()
        if not (root / ".git").exists():
            raise SourceError(
                f"--source-dir {root} is not a git checkout",
                hint="pass the root of an Ollama clone",
            )
        return _checkout_info(runner, root, str(root), spec.ref, in_place=True)

    url = spec.url
    if Path(url).expanduser().exists():
        url = str(Path(url).expanduser().resolve())
    root = spec.workdir / "sources" / source_slug(url)
    if runner.dry_run and not root.exists():
        runner.run(["git", "init", "-q", str(root)])
        runner.run(["git", "-C", str(root), "fetch", "--depth", "1", url, spec.ref])
        runner.run(["git", "-C", str(root), "checkout", "--detach", "FETCH_HEAD"])
        return Checkout(
            root=root,
            url=url,
            ref=spec.ref,
            commit="(dry run)",
            commit_time=0,
            describe=spec.ref,
            in_place=False,
        )
    if not (root / ".git").exists():
        root.mkdir(parents=True, exist_ok=True)
        runner.run(["git", "init", "-q", str(root)], what="git init")
    else:
        changes = status_lines(runner, root)
        ours = bool(changes) and changes_are_ours(root, runner)  # only our patch series
        if changes and not spec.force and not ours:
            shown = "; ".join(changes[:5])
            raise SourceError(
                f"the cached checkout {root} has local changes ({shown})",
                hint="commit or remove them, or pass --force to discard them",
            )
        if changes:
            runner.run(["git", "-C", str(root), "reset", "-q", "--hard"], what="git reset")
        forget_applied_patches(root, runner)  # files our patches created, and the stamp
    try:
        _fetch(runner, root, url, spec.ref)
    except CommandFailedError as error:
        last = error.output_tail.strip().splitlines()[-1:] or ["no output"]
        raise SourceError(
            f"cannot fetch '{spec.ref}' from {url}: {last[0]}",
            hint="check --source (git URL or local repository) and --ref (tag, branch, commit)",
        ) from None
    runner.run(
        ["git", "-C", str(root), "checkout", "-q", "--detach", "FETCH_HEAD"], what="git checkout"
    )
    return _checkout_info(runner, root, url, spec.ref, in_place=False)
