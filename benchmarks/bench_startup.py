"""Benchmark: CPU time (user + sys) of `plan --inventory FILE --json`, `detect --json`, `--help`.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 7]

Each command runs in a fresh interpreter, as a user starts it, in two ways: with the tool's
bytecode cached (as after `pip install`, under a private PYTHONPYCACHEPREFIX warmed by one run)
and with the tool's own modules compiled on every run (a copy of the package without
__pycache__ and PYTHONDONTWRITEBYTECODE=1, as in a read-only checkout). Prints the minimum and
the median over the repetitions, the ratio to a bare `python -c pass`, and the ratio to the goal
(plan and detect under 0.15 s of CPU). Most of the time is importing modules: a command loads
only its own (tests/test_house_rules.py checks that plan and detect load none of the build's).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from boxes import SEED_BOX, write_json_inventory  # noqa: E402

GOAL_CPU_S = 0.15


def cpu_seconds(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """User + system time of one child process (and what it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BUILD_TOOLS_", "PYTHON", "CUDA_", "OLLAMA_"))
    }
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        inventory = write_json_inventory(tmp / "seed.json", SEED_BOX)
        source_copy = tmp / "source"
        shutil.copytree(
            ROOT / "build_tools",
            source_copy / "build_tools",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        modes = {
            "bytecode cached": (
                ROOT,
                {**base_env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")},
            ),
            "compiled each run": (source_copy, {**base_env, "PYTHONDONTWRITEBYTECODE": "1"}),
        }
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "plan --inventory FILE --json": [
                *(sys.executable, "-m", "build_tools"),
                *("plan", "--inventory", str(inventory), "--json"),
            ],
            "detect --json": [sys.executable, "-m", "build_tools", "detect", "--json"],
            "--help": [sys.executable, "-m", "build_tools", "--help"],
        }
        for mode, (cwd, env) in modes.items():
            print(f"{mode}: CPU seconds over {args.repeat} runs")
            bare = 0.0
            for name, argv in commands.items():
                cpu_seconds(argv, cwd, env)  # warm the file cache (and the bytecode cache)
                runs = sorted(cpu_seconds(argv, cwd, env) for _ in range(args.repeat))
                median = statistics.median(runs)
                if name == "python -c pass":
                    bare = median
                    print(f"  {name:30} min {runs[0]:.3f}  median {median:.3f}")
                    continue
                goal = f"  {median / GOAL_CPU_S:.2f}x the goal" if "--help" not in name else ""
                print(
                    f"  {name:30} min {runs[0]:.3f}  median {median:.3f}"
                    f"  {median / bare:.1f}x bare python{goal}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
