"""GPU boxes used across tests, written the way detect/nvidia-smi would report them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from build_tools.gpus.inventory import Gpu, Inventory

# (name, cc, memory MiB). A Tesla M10 board shows up as four cc-5.0 GPUs of 8 GiB each.
SEED_BOX = [
    ("NVIDIA GeForce RTX 3060", "8.6", 12288),
    ("NVIDIA GeForce RTX 3060", "8.6", 12288),
    ("NVIDIA GeForce RTX 3060", "8.6", 12288),
    ("Tesla M10", "5.0", 8192),
    ("Tesla M10", "5.0", 8192),
    ("Tesla M10", "5.0", 8192),
    ("Tesla M10", "5.0", 8192),
]
H100 = [("NVIDIA H100 80GB HBM3", "9.0", 81559)]
MIXED_AMPERE_ADA = [("NVIDIA RTX A4000", "8.6", 16376), ("NVIDIA GeForce RTX 4090", "8.9", 24564)]
JETSON_ORIN = [("Orin", "8.7", 30536)]
RTX_5090 = [("NVIDIA GeForce RTX 5090", "12.0", 32607)]
V100 = [("Tesla V100-SXM2-32GB", "7.0", 32768)]


def uuid_for(index: int, name: str) -> str:
    digest = hashlib.sha256(f"{index}:{name}".encode()).hexdigest()
    return f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def inventory(box: list[tuple[str, str, int]]) -> Inventory:
    gpus = []
    for index, (name, cc, memory) in enumerate(box):
        major, minor = cc.split(".")
        gpus.append(
            Gpu(
                index=index,
                uuid=uuid_for(index, name),
                name=name,
                cc_major=int(major),
                cc_minor=int(minor),
                memory_total_mib=memory,
            )
        )
    return Inventory(gpus=tuple(gpus), source="file", origin="test")


def write_json_inventory(path: Path, box: list[tuple[str, str, int]]) -> Path:
    data = inventory(box).to_json()
    path.write_text(json.dumps(data, indent=2))
    return path


def smi_csv(box: list[tuple[str, str, int]], *, header: bool, full: bool = False) -> str:
    """What `nvidia-smi --query-gpu=index,uuid,name,compute_cap,memory.total[,...]` prints."""
    lines = []
    if header:
        lines.append("index, uuid, name, compute_cap, memory.total [MiB]")
    for index, (name, cc, memory) in enumerate(box):
        unit = "" if full else " MiB"
        row = f"{index}, {uuid_for(index, name)}, {name}, {cc}, {memory}{unit}"
        if full:
            row += ", [N/A], 550.54.14"
        lines.append(row)
    return "\n".join(lines) + "\n"
