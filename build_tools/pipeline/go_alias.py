"""``go build`` runs from one path per source checkout, whatever the work directory.

Go's build cache keys a cgo package by its CPPFLAGS with ``${SRCDIR}`` expanded
(``cmd/go/internal/work/exec.go``, ``buildActionID``), even with ``-trimpath``. Ollama's cgo
packages name their headers that way (``v0.6.8:llama/llama.go``:
``#cgo CPPFLAGS: -I${SRCDIR}/llama.cpp/include``), so a fresh work directory compiled all of
them again: 133 s of a 192 s rebuild of v0.6.8 whose native code all came from ccache
(docs/build-notes.md, "Compiler caches"). The Go step therefore runs in
``<cache>/go-sources/<slug>``, a link to the checkout, with ``PWD`` naming it. The link is
re-pointed under a lock when it names another checkout (left as it is otherwise, so an unchanged
re-run writes nothing there), so two builds never see each other's tree; the binary is the same
either way (``-trimpath``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from build_tools.build_plan import BuildPlan
from build_tools.errors import ConfigurationError
from build_tools.locks import exclusive

__all__ = ["GO_ALIAS_DIR", "go_source_linked"]

GO_ALIAS_DIR = "go-sources"


def _unusable(path: os.PathLike[str], error: OSError) -> ConfigurationError:
    return ConfigurationError(
        f"cannot link the Go build's source at {os.fspath(path)}: {error.strerror}",
        hint="check that the cache directory (--cache-dir) is writable",
    )


@contextmanager
def go_source_linked(plan: BuildPlan, *, dry_run: bool) -> Iterator[None]:
    """Point ``plan.go_source`` at the checkout and hold it for the Go step."""
    alias = plan.go_source
    if dry_run or not plan.go_source_is_link:
        yield
        return
    try:
        alias.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unusable(alias, error) from None
    # Another work directory does not help here: every build of this cache links its Go
    # source in this one directory.
    with exclusive(alias.parent, instead="use another --cache-dir"):
        if _target(alias) != plan.checkout.root:
            # A new link renamed over the old one: the path always names one tree or the other.
            partial = alias.with_name(f".{alias.name}.{os.getpid()}")
            try:
                partial.unlink(missing_ok=True)
                partial.symlink_to(plan.checkout.root, target_is_directory=True)
                partial.replace(alias)
            except OSError as error:
                raise _unusable(alias, error) from None
        yield


def _target(link: Path) -> Path | None:
    """Where ``link`` points, or None when it is not a link (yet)."""
    try:
        return link.readlink()
    except OSError:
        return None
