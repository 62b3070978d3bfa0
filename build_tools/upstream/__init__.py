"""Ollama's new release tags against what this tool knows (``upstream check``).

:mod:`.repository` reads tags and a few files of a tag from a clone or a URL without a
checkout; :mod:`.check` judges each tag newer than the generation registry: its tree
recognised, its stock arch lists unchanged, the current patch series still applying.
"""

from __future__ import annotations

from build_tools.upstream.check import (
    SeriesResult,
    TagReport,
    UpstreamReport,
    check_tag,
    check_upstream,
    tree_paths,
)
from build_tools.upstream.repository import (
    RELEASE_TAG,
    Repository,
    extract_files,
    fetch_tags,
    open_repository,
    release_tags,
)

__all__ = [
    "RELEASE_TAG",
    "Repository",
    "SeriesResult",
    "TagReport",
    "UpstreamReport",
    "check_tag",
    "check_upstream",
    "extract_files",
    "fetch_tags",
    "open_repository",
    "release_tags",
    "tree_paths",
]
