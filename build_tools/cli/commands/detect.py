"""``detect``: list the local NVIDIA GPUs (NVML, else nvidia-smi) and optionally save them."""

from __future__ import annotations

import json

from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.errors import ConfigurationError
from build_tools.gpus.detect import detect_inventory
from build_tools.gpus.inventory import Inventory
from build_tools.settings.commands import DetectSettings

__all__ = ["run", "show_inventory"]


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


def run(settings: DetectSettings, context: Context) -> int:
    inventory = detect_inventory(context.runner)
    if settings.output is not None:
        try:
            settings.output.write_text(json.dumps(inventory.to_json(), indent=2) + "\n")
        except OSError as error:
            raise ConfigurationError(
                f"cannot write {settings.output}: {error.strerror}", hint="choose another --output"
            ) from None
        reporter.info(f"saved {len(inventory.gpus)} GPU(s) to {settings.output}")
    if context.json:
        print_json(inventory.to_json())
    else:
        show_inventory(inventory)
    return 0
