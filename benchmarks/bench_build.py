"""Benchmark: cold fixture build vs no-op re-run, and `plan` wall time.

    .venv/bin/python benchmarks/bench_build.py [--cuda 12.4]

Builds the miniature G4 fixture tree from tests/ (real cmake, ninja, nvcc, go) in a fresh work
directory, re-runs the same build, and times `plan` for the seed box. Prints the timings and
the ratios against the goals (no-op re-run <= 3 s, plan <= 0.3 s). Timings depend on the machine;
compare ratios, not absolute numbers. Needs the CUDA toolkit in the cache (installed on first
use, about 1.3 GB for 12.4).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from boxes import SEED_BOX, write_json_inventory  # noqa: E402
from ollama_fixture import write_fixture  # noqa: E402

NOOP_GOAL_S = 3.0
PLAN_GOAL_S = 0.3


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", default="12.4")
    parser.add_argument("--repeat", type=int, default=5, help="plan timing repetitions")
    args = parser.parse_args()
    tool = [sys.executable, "-m", "build_tools", "-q"]
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        source = write_fixture(tmp / "ollama", generation="G4")
        inventory = write_json_inventory(tmp / "seed.json", SEED_BOX)
        # Install the toolkit outside the timed runs.
        subprocess.run([*tool, "toolkit", "install", "--cuda", args.cuda], check=True)
        build = [
            *tool,
            "build",
            "--source",
            str(source),
            "--workdir",
            str(tmp / "work"),
            "--inventory",
            str(inventory),
            "--exclude-arch",
            "50",
            "--cuda",
            args.cuda,
            "--compiler-cache",
            "none",
        ]
        cold = timed(build)
        noop = timed(build)
        plan = [*tool, "plan", "--inventory", str(inventory), "--exclude-arch", "50", "--json"]
        plans = [timed(plan) for _ in range(args.repeat)]
    plan_s = statistics.median(plans)
    print(f"cold fixture build : {cold:7.2f} s")
    print(
        f"no-op re-run       : {noop:7.2f} s  (goal <= {NOOP_GOAL_S} s; cold/no-op = "
        f"{cold / noop:.1f}x)"
    )
    print(
        f"plan (median of {args.repeat}): {plan_s:7.3f} s  (goal <= {PLAN_GOAL_S} s; "
        f"{plan_s / PLAN_GOAL_S:.2f} of goal)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
