"""One recipe per Ollama build generation; differences that are data live in resources/."""

from __future__ import annotations

from build_tools.errors import UnsupportedGenerationError
from build_tools.generations import Generation
from build_tools.recipes.base import Recipe, Step
from build_tools.recipes.cmake_presets import CMakePresetRecipe
from build_tools.recipes.superbuild import SuperbuildRecipe
from build_tools.source.ollama_tree import (
    TreeFacts,
    UnknownLayoutError,
    detect_generation,
    read_tree,
)

__all__ = [
    "Recipe",
    "Step",
    "TreeFacts",
    "UnknownLayoutError",
    "UnsupportedGenerationError",
    "detect_generation",
    "read_tree",
    "recipe_for",
]


def recipe_for(generation: Generation) -> Recipe:
    if generation in (Generation.G3, Generation.G4):
        return CMakePresetRecipe()
    if generation is Generation.G5:
        return SuperbuildRecipe()
    raise UnsupportedGenerationError(
        f"building Ollama {generation.value} trees is not supported yet",
        hint="this version builds G3 (v0.5.8 - v0.12.3), G4 (v0.12.4 - v0.25.0-rc0) and "
        "G5 (v0.30.0 - v0.33.x); "
        "use `plan` for the arch list",
    )
