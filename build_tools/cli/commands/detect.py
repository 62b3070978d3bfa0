"""``detect``: list the local NVIDIA GPUs (NVML, else nvidia-smi) and optionally save them."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from build_tools.cli.commands.common import print_json
from build_tools.console import Row, reporter
from build_tools.errors import ConfigurationError
from build_tools.gpus.detect import detect_inventory
from build_tools.gpus.inventory import Inventory
from build_tools.runner import Runner

__all__ = ["register"]

EPILOG = """\
examples:
  python -m build_tools detect                      # table of GPUs
  python -m build_tools detect --json               # the same as JSON on stdout
  python -m build_tools detect --output box.json    # save for planning on another machine
  python -m build_tools plan --inventory box.json --exclude-arch 50
"""


def show_inventory(inventory: Inventory) -> None:
    for notice in inventory.notices:
        reporter.notice(notice)
    if not inventory.gpus:
        return
    rows = [
        Row(
            [
                str(gpu.index),
                gpu.name,
                gpu.compute_capability,
                "" if gpu.memory_total_mib is None else f"{gpu.memory_total_mib} MiB",
                gpu.mig_mode or "-",
                gpu.uuid,
            ]
        )
        for gpu in inventory.gpus
    ]
    driver = inventory.driver_version or "unknown"
    cuda = inventory.cuda_driver_version or "unknown"
    reporter.table(
        f"GPUs ({inventory.source}; driver {driver}, supports CUDA {cuda})",
        ["#", "name", "cc", "memory", "MIG", "UUID"],
        rows,
    )


def run(args: argparse.Namespace, runner: Runner) -> int:
    inventory = detect_inventory(runner, path=os.environ.get("PATH"))
    if args.output is not None:
        try:
            args.output.write_text(json.dumps(inventory.to_json(), indent=2) + "\n")
        except OSError as error:
            raise ConfigurationError(
                f"cannot write {args.output}: {error.strerror}", hint="choose another --output"
            ) from None
        reporter.info(f"saved {len(inventory.gpus)} GPU(s) to {args.output}")
    if args.json:
        print_json(inventory.to_json())
    else:
        show_inventory(inventory)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="list local NVIDIA GPUs (index, UUID, name, compute capability, memory, MIG)",
        description="Detect NVIDIA GPUs through NVML, falling back to nvidia-smi. A machine "
        "without GPU or driver gives an empty inventory and a notice, not an error.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the inventory as JSON")
    parser.add_argument(
        "--output", metavar="FILE", type=Path, help="save the inventory as JSON for --inventory"
    )
    parser.set_defaults(func=run)
