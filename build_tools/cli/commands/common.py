"""Options shared by planning and building commands, and their resolution into values."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from build_tools.generations import Generation, OllamaVersion, generation_for_version
from build_tools.gpus.detect import detect_inventory
from build_tools.gpus.inventory import Inventory, load_inventory
from build_tools.planning.arch_plan import ArchRequest, PtxPolicy, request_tokens
from build_tools.runner import Runner
from build_tools.source.checkout import Checkout, SourceSpec, prepare_source

__all__ = [
    "add_inventory_argument",
    "add_plan_arguments",
    "arch_request_from_args",
    "checkout_from_args",
    "inventory_from_args",
    "print_json",
]


def print_json(data: Mapping[str, Any]) -> None:
    """Machine output: one JSON document on stdout, nothing else there."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def add_inventory_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory",
        metavar="FILE",
        type=Path,
        help="use a saved GPU inventory (from `detect --output`, or an "
        "`nvidia-smi --query-gpu=index,uuid,name,compute_cap,memory.total --format=csv` "
        "capture) instead of detecting local GPUs; for CI builders without a GPU",
    )


def add_plan_arguments(parser: argparse.ArgumentParser, *, for_build: bool = False) -> None:
    """Arch options; ``for_build`` leaves out the generation/ref, which a build reads from
    the source tree itself."""
    add_inventory_argument(parser)
    group = parser.add_argument_group("architecture plan")
    group.add_argument(
        "--arch",
        action="append",
        metavar="LIST",
        help="architectures to build instead of the inventory's (repeatable; comma or "
        "semicolon separated): 86, 8.6, sm_86 (SASS only), compute_86 (PTX only), 86-real, "
        "86-virtual, 90a, 100f, native (= inventory), all, all-major, or 'preset' for the "
        "stock list of the target Ollama generation",
    )
    group.add_argument(
        "--exclude-arch",
        action="append",
        metavar="LIST",
        help="remove every form of these archs (50 removes 50, 50-real, 50-virtual); GPUs "
        "that need them are left to other backends or unused - the point for a Tesla M10",
    )
    group.add_argument(
        "--min-arch",
        metavar="N",
        help="drop archs below this compute capability (e.g. 7.5 or 75)",
    )
    group.add_argument(
        "--ptx",
        choices=[p.value for p in PtxPolicy],
        default=PtxPolicy.HIGHEST.value,
        help="where to embed PTX for plain arch entries: none, highest (default: SASS for all "
        "+ PTX for the newest arch, a JIT fallback for future GPUs at a small size cost), all",
    )
    if for_build:
        return
    group.add_argument(
        "--ollama-generation",
        metavar="GEN",
        help="the Ollama build generation G1-G5 whose runtime rule decides GPU use "
        "(default: from --ref, else G5, the newest)",
    )
    group.add_argument(
        "--ref",
        metavar="TAG",
        help="Ollama release tag being planned for (e.g. v0.6.8); selects the generation, "
        "its stock list and known holes",
    )


def arch_request_from_args(
    args: argparse.Namespace,
    cuda_version: str | None,
    *,
    generation: Generation | None = None,
    ref: OllamaVersion | None = None,
) -> ArchRequest:
    """Arch options to a request. A build passes the generation and release read from its
    tree; ``plan`` takes them from --ollama-generation / --ref."""
    if generation is None:
        ref = OllamaVersion.parse(args.ref) if args.ref else None
        if args.ollama_generation:
            generation = Generation.parse(args.ollama_generation)
        elif ref is not None:
            generation = generation_for_version(ref)
        else:
            generation = Generation.G5
    return ArchRequest(
        arch_tokens=request_tokens(args.arch),
        exclude_tokens=request_tokens(args.exclude_arch),
        min_arch=args.min_arch,
        ptx=PtxPolicy(args.ptx),
        generation=generation,
        ref=ref,
        cuda_version=cuda_version,
    )


def checkout_from_args(args: argparse.Namespace, workdir: Path, runner: Runner) -> Checkout:
    """--source/--ref/--source-dir/--force to a checkout (fetched into ``workdir`` if needed)."""
    spec = SourceSpec(
        url=args.source,
        ref=args.ref,
        workdir=workdir,
        source_dir=args.source_dir,
        force=args.force,
    )
    return prepare_source(spec, runner)


def inventory_from_args(args: argparse.Namespace, runner: Runner) -> Inventory:
    if args.inventory is not None:
        return load_inventory(args.inventory)
    return detect_inventory(runner, path=os.environ.get("PATH"))
