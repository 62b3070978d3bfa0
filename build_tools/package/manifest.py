"""``manifest.json``: everything needed to tell what a package is and how it was made.

Deterministic: sorted keys, no time but SOURCE_DATE_EPOCH, and machine-specific directories
written as placeholders (``$SOURCE``, ``$WORKDIR``, ``$CUDA``), so two builds of the same
ref and plan in different directories give the same manifest, and no home directory leaks into a
release. Everything else is exact: the configure arguments and Go command are the recipe's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from build_tools import __version__
from build_tools.package.staging import TreeEntry
from build_tools.recipes import recipe_for

if TYPE_CHECKING:
    from build_tools.audit import ArchComparison
    from build_tools.build_plan import BuildPlan

__all__ = ["MANIFEST_VERSION", "build_manifest", "manifest_bytes", "write_manifest"]

MANIFEST_VERSION = 1

PLACEHOLDERS = {
    "$SOURCE": "the Ollama source checkout",
    "$STAGING": "the staging tree that was packaged",
    "$WORKDIR": "the build's --workdir",
    "$CUDA": "the CUDA toolkit root",
    "$GO_SOURCE": "the link to $SOURCE that `go build` runs in (pipeline.go_alias)",
}


def _path_pattern(plan: BuildPlan) -> tuple[re.Pattern[str], dict[str, str]]:
    # Longest first: the checkout and staging tree usually live inside the workdir.
    roots = {
        str(plan.checkout.root): "$SOURCE",
        str(plan.staging_dir): "$STAGING",
        str(plan.options.workdir): "$WORKDIR",
        str(plan.toolkit.root): "$CUDA",
    }
    if plan.go_source_is_link:
        roots[str(plan.go_source)] = "$GO_SOURCE"
    ordered = sorted(roots, key=len, reverse=True)
    # Only whole path prefixes: "/w" must not match inside "/work".
    pattern = re.compile("|".join(re.escape(r) for r in ordered) + r"(?![^/\s;=:,])")
    return pattern, roots


def _redact(value: Any, pattern: re.Pattern[str], roots: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(lambda m: roots[m.group(0)], value)
    if isinstance(value, Mapping):
        return {k: _redact(v, pattern, roots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v, pattern, roots) for v in value]
    return value


def _commands(plan: BuildPlan) -> dict[str, Any]:
    recipe = recipe_for(plan.tree.generation)
    steps = recipe.steps(plan)

    def shown(step: Any) -> dict[str, Any]:
        return {
            "name": step.name,
            "argv": list(step.argv),
            "env": dict(sorted((step.env or {}).items())),
            "cwd": None if step.cwd is None else str(step.cwd),
        }

    # Build steps are left out on purpose: their only variable is --parallel N, which does not
    # change the output and would make manifests of identical builds differ.
    return {
        "configure": [shown(s) for s in steps if s.phase == "configure"],
        "go_build": [shown(s) for s in steps if s.phase == "go"],
        "ldflags": list(recipe.ldflags(plan)),
    }


def build_manifest(
    plan: BuildPlan,
    *,
    audits: Sequence[ArchComparison],
    toolchain: Mapping[str, str | None],
    entries: Sequence[TreeEntry],
    source_date_epoch: int,
) -> dict[str, Any]:
    checkout, toolkit = plan.checkout, plan.toolkit
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "tool": {"name": "ollama-build-tools", "version": __version__},
        "source": {
            "url": checkout.url,
            "ref": checkout.ref,
            "commit": checkout.commit,
            "describe": checkout.describe,
            "version": checkout.version,
        },
        "generation": plan.tree.generation.name,
        # G5: the llama.cpp tree the superbuild compiled (source, tag, commit, whether that was
        # proven, Ollama's compat patches applied); null for generations that vendor ggml.
        "llama_cpp": None if plan.llama_cpp is None else plan.llama_cpp.to_json(),
        "patches": [p.to_json() for p in plan.patches],
        "plan": plan.arch_plan.to_json(),
        "inventory": plan.arch_plan.inventory.to_json(),
        "toolkit": {
            "version": toolkit.version,
            "full_version": toolkit.full_version,
            "provider": toolkit.provider,
            "root": str(toolkit.root),
        },
        "toolchain": dict(toolchain),
        "build": {
            **_commands(plan),
            "with_vulkan": plan.options.with_vulkan,
            # Whether the CUDA objects are independent of PIDs and the work directory, how,
            # and why not (build_tools/toolkit/pathmap.py).
            "reproducibility": None
            if plan.reproducibility is None
            else plan.reproducibility.to_json(),
        },
        # Each GPU backend, on with the archs it compiles or off with the reason.
        "backends": [b.to_json() for b in plan.backends],
        "source_date_epoch": source_date_epoch,
        "files": [e.to_json() for e in entries],
        "audit": [c.to_json() for c in audits],
        "path_placeholders": PLACEHOLDERS,
    }
    pattern, roots = _path_pattern(plan)
    redacted: dict[str, Any] = _redact(manifest, pattern, roots)
    # Library paths relative to the packaged tree, as they appear in "files".
    for audit in redacted["audit"]:
        audit["library"] = str(audit["library"]).removeprefix("$STAGING/")
    return redacted


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def write_manifest(manifest: Mapping[str, Any], dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.write_bytes(manifest_bytes(manifest))
    partial.replace(dest)
    return dest
