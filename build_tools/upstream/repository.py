"""An upstream Ollama repository as ``upstream check`` reads it: its release tags, and a few
files of a tag, without a checkout.

A local clone (bare or not) is read in place. A URL is asked for its tags with ``git
ls-remote`` (nothing fetched); only the tags to check are then fetched, shallow, into a bare
repository under the work directory (``<workdir>/upstream/<slug>``), which later runs reuse.
The files of a tag are listed with ``git ls-tree`` (sizes included, so an oversized tree is
refused before it is read) and written out with ``git archive --output``: exact bytes, regular
files only, into a directory that stands in for the tree. Every git command runs through the
runner with a time limit; tag names passed to git have matched :data:`RELEASE_TAG`.
"""

from __future__ import annotations

import dataclasses
import re
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from build_tools.errors import CommandFailedError, SourceError
from build_tools.generations import OllamaVersion
from build_tools.runner import Runner
from build_tools.source.checkout import source_slug

__all__ = [
    "MAX_TREE_BYTES",
    "RELEASE_TAG",
    "Repository",
    "extract_files",
    "fetch_tags",
    "open_repository",
    "release_tags",
]

# Release tags only: vX.Y.Z and vX.Y.Z-rcN (no other tag is a release, or reaches git as one).
RELEASE_TAG = re.compile(r"v\d+\.\d+\.\d+(?:-rc\d+)?\Z")
# What the files read from one tag may add up to; Ollama's are about half a MiB.
MAX_TREE_BYTES = 32 * 1024 * 1024
_BLOB = re.compile(r"^(?P<mode>100644|100755) blob [0-9a-f]{40,64} +(?P<size>\d+)\t(?P<path>.+)$")
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True, kw_only=True)
class Repository:
    source: str  # as given (--source)
    git_dir: Path  # where tags and objects are read
    url: str | None  # the URL to fetch tags from; None: a local clone read in place


def _last_words(error: CommandFailedError) -> str:
    lines = [line.strip() for line in error.output_tail.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else error.message


def _git(runner: Runner, *args: str, env: dict[str, str] | None = None, what: str) -> str:
    return runner.run(["git", *args], probe=True, quick=True, env=env, what=what).output


def _local(source: str) -> Path | None:
    """The directory a source names on this machine; None for a URL."""
    # As git reads it: a scheme, or scp-like "host:path" (a colon before any slash).
    if "://" in source or re.match(r"^[^/:]+:", source):
        return None
    return Path(source).expanduser().resolve()


def open_repository(source: str, workdir: Path, runner: Runner) -> Repository:
    """The repository ``source`` names; a missing or broken local one is exit 8 at once."""
    path = _local(source)
    if path is None:
        return Repository(
            source=source, git_dir=workdir / "upstream" / source_slug(source), url=source
        )
    if not path.is_dir():
        raise SourceError(
            f"--source {path} does not exist or is not a directory",
            hint="pass a clone of github.com/ollama/ollama, or its URL",
        )
    # The ceiling keeps git from answering for a repository around the directory.
    result = runner.run(
        ["git", "-C", str(path), "rev-parse", "--absolute-git-dir"],
        env={"GIT_CEILING_DIRECTORIES": str(path.parent)},
        probe=True,
        quick=True,
        check=False,
        what="git rev-parse",
    )
    if result.returncode != 0:
        words = (result.output.strip().splitlines() or ["no output"])[-1]
        raise SourceError(
            f"--source {path} is not a git repository ({words})",
            hint="pass a clone of github.com/ollama/ollama (bare or not), or its URL",
        )
    return Repository(source=source, git_dir=Path(result.output.strip()), url=None)


def _tag_names(output: str, *, remote: bool) -> list[str]:
    names = []
    for line in output.splitlines():
        name = line.split("\t", 1)[1] if remote and "\t" in line else line
        names.append(name.strip().removeprefix("refs/tags/"))
    return names


def release_tags(
    repository: Repository, runner: Runner, timeout: float | None = None
) -> list[OllamaVersion]:
    """The repository's release tags, oldest first (other tags are left out); a URL is asked
    within ``timeout`` seconds (default: the runner's probe timeout)."""
    try:
        if repository.url is not None:
            output = _git(
                runner if timeout is None else dataclasses.replace(runner, probe_timeout=timeout),
                "ls-remote",
                "--tags",
                "--refs",
                "--",
                repository.url,
                env=_NO_PROMPT,
                what=f"git ls-remote {repository.url}",
            )
        else:
            output = _git(
                runner,
                "--git-dir",
                str(repository.git_dir),
                "for-each-ref",
                "--format=%(refname)",
                "refs/tags",
                what="git for-each-ref",
            )
    except CommandFailedError as error:
        raise SourceError(
            f"cannot read the tags of {repository.source} ({_last_words(error)})",
            hint="check --source: a git URL or the path of a local Ollama clone",
        ) from None
    names = _tag_names(output, remote=repository.url is not None)
    return sorted(OllamaVersion.parse(n) for n in names if RELEASE_TAG.match(n))


def fetch_tags(
    repository: Repository, tags: Sequence[OllamaVersion], runner: Runner, timeout: float
) -> None:
    """Make ``tags`` readable: a local clone has them; a URL's are fetched (shallow) into the
    bare repository under the work directory, each at most once."""
    if repository.url is None or not tags:
        return
    git_dir = repository.git_dir
    slow = dataclasses.replace(runner, probe_timeout=timeout)
    try:
        if not (git_dir / "HEAD").is_file():
            git_dir.parent.mkdir(parents=True, exist_ok=True)
            _git(runner, "init", "--bare", "-q", str(git_dir), what="git init")
        have = set(
            _tag_names(
                _git(
                    runner,
                    "--git-dir",
                    str(git_dir),
                    "for-each-ref",
                    "--format=%(refname)",
                    "refs/tags",
                    what="git for-each-ref",
                ),
                remote=False,
            )
        )
        wanted = [f"+refs/tags/{t}:refs/tags/{t}" for t in map(str, tags) if t not in have]
        if wanted:
            _git(
                slow,
                "--git-dir",
                str(git_dir),
                "fetch",
                "--depth",
                "1",
                "--no-tags",
                "--",
                repository.url,
                *wanted,
                env=_NO_PROMPT,
                what=f"git fetch {len(wanted)} tag(s) from {repository.url}",
            )
    except CommandFailedError as error:
        raise SourceError(
            f"cannot fetch the new tags from {repository.url} ({_last_words(error)})",
            hint=f"check --source and the network; a slow link may need a larger --timeout "
            f"(now {timeout:g} s)",
        ) from None
    except OSError as error:
        raise SourceError(
            f"cannot create {git_dir}: {error.strerror}", hint="choose another --workdir"
        ) from None


def _blobs(
    repository: Repository, tag: OllamaVersion, paths: Sequence[str], runner: Runner
) -> list[str]:
    """The regular files of ``tag`` under ``paths``; refuses a tree larger than allowed."""
    listing = _git(
        runner,
        "--git-dir",
        str(repository.git_dir),
        "ls-tree",
        "-r",
        "-l",
        "--full-tree",
        str(tag),
        "--",
        *paths,
        what=f"git ls-tree {tag}",
    )
    files, total = [], 0
    for line in listing.splitlines():
        match = _BLOB.match(line)
        if match is None or match["path"].startswith('"'):
            continue  # a symlink, a submodule, or a name git had to quote: never read
        files.append(match["path"])
        total += int(match["size"])
    if total > MAX_TREE_BYTES:
        raise SourceError(
            f"{tag}: the files upstream check reads add up to {total} bytes, more than "
            f"{MAX_TREE_BYTES}",
            hint="this is not the layout of an Ollama release; check --source",
        )
    return files


def extract_files(
    repository: Repository, tag: OllamaVersion, paths: Sequence[str], dest: Path, runner: Runner
) -> list[str]:
    """Write the regular files of ``tag`` under ``paths`` (files or directories) to ``dest``;
    return their paths. Paths the tag does not have are left out."""
    try:
        files = _blobs(repository, tag, paths, runner)
        if not files:
            return []
        with tempfile.TemporaryDirectory(prefix="build-tools-upstream-") as temp:
            archive = Path(temp) / "tree.tar"
            _git(
                runner,
                "--git-dir",
                str(repository.git_dir),
                "archive",
                "--format=tar",
                f"--output={archive}",
                str(tag),
                "--",
                *files,
                what=f"git archive {tag}",
            )
            _unpack(archive, dest, set(files))
    except CommandFailedError as error:
        raise SourceError(
            f"cannot read {tag} from {repository.source} ({_last_words(error)})",
            hint="the repository is damaged or lacks the tag's objects; fetch it again",
        ) from None
    return files


def _unpack(archive: Path, dest: Path, expected: set[str]) -> None:
    """Only the listed regular files, each inside ``dest`` (tarfile's data filter)."""
    if archive.stat().st_size > MAX_TREE_BYTES + 1024 * (len(expected) + 2):
        raise SourceError(f"git archive wrote more than the {len(expected)} files it was asked for")
    with tarfile.open(archive, mode="r:") as tar:
        members = [
            m
            for m in tar.getmembers()
            if m.isfile() and PurePosixPath(m.name).as_posix() in expected
        ]
        tar.extractall(dest, members=members, filter="data")
