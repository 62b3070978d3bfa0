"""Run one compiler command with the work directory seen at a fixed path.

cicc's PTX for some kernels (b10068's ``fattn-tile-instance-*``) follows its memory layout,
and that layout follows the lengths of the paths on its command line: with address
randomisation off, the same command still gives other PTX in a work directory whose path is
longer or shorter (measured, ``docs/build-notes.md``, "Path-independent CUDA objects"). So
the nvcc launcher runs nvcc in a private mount namespace (``unshare -rm``, no privileges
needed where the kernel allows unprivileged user namespaces) in which the work directory is
bound at one canonical directory, and every argument, environment value and the working
directory name it there. Two builds in different work directories then hand nvcc, cudafe++
and cicc the same bytes.

What leaves the namespace is turned back: the dependency file nvcc writes (``-MF``) names the
real paths again, or Ninja would look for headers under a directory that exists only inside
the namespace and rebuild every object on every run; and the compiler's messages name the
real paths, so an error points at a file the user can open.

This file is copied next to the launcher script and run by the build's Python as a plain
script (``python -I -S``): it imports nothing outside the standard library.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["depfile_of", "main", "replace_prefix", "usage"]

# A path continues with one of these; a prefix followed by one names another file.
_PATH_CHARACTERS = r"A-Za-z0-9._+~@-"
_DEPFILE_OPTIONS = ("-MF", "--dependency-output")
_LIMIT = 64 * 1024 * 1024  # a dependency file larger than this is not nvcc's


def usage() -> str:
    return "usage: canonical.py MOUNT WORK CANONICAL -- COMMAND [ARG...]"


def replace_prefix(text: str, old: str, new: str) -> str:
    """``text`` with each occurrence of the directory ``old`` (as a whole path component:
    ``/w/a`` in ``-I/w/a/include`` or ``/w/a``, not in ``/w/ab``) replaced by ``new``."""
    pattern = re.escape(old) + f"(?![{_PATH_CHARACTERS}])"
    return re.sub(pattern, lambda _match: new, text)


def depfile_of(arguments: Sequence[str]) -> str | None:
    """The dependency file a compiler command writes (nvcc's ``-MF``), or None."""
    found = None
    for index, word in enumerate(arguments):
        for option in _DEPFILE_OPTIONS:
            if word == option and index + 1 < len(arguments):
                found = arguments[index + 1]
            elif word.startswith(option + "="):
                found = word[len(option) + 1 :]
            elif option == "-MF" and word.startswith("-MF") and len(word) > 3:
                found = word[3:]
    return found


def _inside(work: str, canonical: str, environ: Mapping[str, str]) -> dict[str, str]:
    return {key: replace_prefix(value, work, canonical) for key, value in environ.items()}


def _turn_back(path: str, work: str, canonical: str) -> None:
    """Rewrite the file at ``path`` so it names ``work`` where it names ``canonical``."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(_LIMIT + 1)
    except FileNotFoundError:
        return  # the compile failed before writing it
    if len(data) > _LIMIT:
        return
    text = data.decode("utf-8", "surrogateescape")
    back = replace_prefix(text, canonical, work)
    if back != text:
        with Path(path).open("wb") as handle:
            handle.write(back.encode("utf-8", "surrogateescape"))


def _bind(mount: str, work: str, canonical: str) -> str | None:
    result = subprocess.run(
        [mount, "--bind", work, canonical],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        return result.stderr.strip() or f"{mount} exited with {result.returncode}"
    return None


def main(argv: Sequence[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        print(usage(), file=sys.stderr)
        return 2
    mount, work, canonical, command = argv[0], argv[1], argv[2], list(argv[4:])
    problem = _bind(mount, work, canonical)
    if problem is not None:
        print(f"build-tools nvcc launcher: cannot bind {work} at {canonical}: {problem}",
              file=sys.stderr)  # fmt: skip
        return 1
    # The kernel names the working directory without the links in the work directory's path.
    here = replace_prefix(str(Path.cwd()), os.path.realpath(work), work)
    os.chdir(replace_prefix(here, work, canonical))
    arguments = [replace_prefix(word, work, canonical) for word in command]
    try:
        environment = _inside(work, canonical, os.environ)
        result = subprocess.run(arguments, check=False, env=environment, capture_output=True)
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        print(f"build-tools nvcc launcher: cannot run {arguments[0]}: {error}", file=sys.stderr)
        return 127
    depfile = depfile_of(command)
    if depfile is not None:
        _turn_back(depfile, work, canonical)
    for data, stream in ((result.stdout, sys.stdout), (result.stderr, sys.stderr)):
        text = replace_prefix(data.decode("utf-8", "surrogateescape"), canonical, work)
        stream.buffer.write(text.encode("utf-8", "surrogateescape"))
        stream.flush()
    # A compiler killed by a signal: report it the way a shell would.
    return result.returncode if result.returncode >= 0 else 128 - result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
