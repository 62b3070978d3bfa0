"""Ollama's build generations as data: one registry row each, read into :class:`Generation`.

The rows live in ``registry.toml`` (reference: ``docs/generations.md``). Which generation a
source tree belongs to is decided from its files (``source.ollama_tree``); an install's from
the version in its binary or its layout (``audit.layout``); a release tag's from the tag ranges.
"""

from __future__ import annotations

from .model import (
    ArchSyntax,
    CpuFeature,
    CpuVariant,
    CpuVariantSet,
    Generation,
    LayoutClue,
    OwnArchBackend,
    RuntimeRule,
    SkipLog,
    SkipLogFormat,
    StockLists,
    TreeSignature,
)
from .registry import Registry, registry, use_registry
from .version import OllamaVersion

__all__ = [
    "ArchSyntax",
    "CpuFeature",
    "CpuVariant",
    "CpuVariantSet",
    "Generation",
    "LayoutClue",
    "OllamaVersion",
    "OwnArchBackend",
    "Registry",
    "RuntimeRule",
    "SkipLog",
    "SkipLogFormat",
    "StockLists",
    "TreeSignature",
    "generation_for_version",
    "registry",
    "use_registry",
]


def generation_for_version(version: OllamaVersion) -> Generation:
    """The generation whose tag range holds ``version`` (no source tree at hand: planning for
    a tag, inspecting a binary that records its version)."""
    return registry().for_version(version)
