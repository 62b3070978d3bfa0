"""One recipe per Ollama build generation; what differs as data lives in the generation registry.

A registry row names its recipe as ``"module:Class"``; :func:`recipe_for` imports it on first
use, so adding a generation needs no edit here.
"""

from __future__ import annotations

import importlib
from functools import cache

from build_tools.errors import UnsupportedGenerationError
from build_tools.generations import Generation, registry
from build_tools.recipes.base import Recipe, Step

__all__ = ["Recipe", "Step", "recipe_for"]


@cache
def _load(path: str) -> Recipe:
    module_name, _, attribute = path.partition(":")
    recipe: Recipe = getattr(importlib.import_module(module_name), attribute)()
    return recipe


def recipe_for(generation: Generation) -> Recipe:
    """The recipe that builds ``generation``; exit 9 for a generation nobody can build yet."""
    if generation.recipe is None:
        buildable = ", ".join(g.label for g in registry().generations if g.recipe is not None)
        raise UnsupportedGenerationError(
            f"building Ollama {generation.label} trees is not supported yet",
            hint=f"this version builds {buildable}; use `plan` for the arch list",
        )
    return _load(generation.recipe)
