"""Benchmark: CPU time (user + sys) of `plan --inventory FILE --json`, `detect --json`, `--help`.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 7] [--baseline DIR]

Each command runs in a fresh interpreter, as a user starts it, in two ways: with the tool's
bytecode cached (as after `pip install`, under a private PYTHONPYCACHEPREFIX warmed by one run)
and with the tool's own modules compiled on every run (PYTHONDONTWRITEBYTECODE=1 and a copy of
the package without __pycache__, as in a read-only checkout). Prints the median over the
repetitions, the ratio to a bare `python -c pass` and to the goal (plan and detect under 0.15 s
of CPU). With --baseline DIR (a directory holding another version's build_tools/, e.g. from
`git archive main | tar -x -C DIR`) both run alternately and the ratio baseline/this is
printed: on a loaded machine the ratio is the number to compare, not the seconds.

Most of the time is importing modules: a command loads only its own (tests/test_house_rules.py
checks that plan and detect load none of the build's).
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


def copy_package(tree: Path, dest: Path) -> Path:
    shutil.copytree(
        tree / "build_tools", dest / "build_tools", ignore=shutil.ignore_patterns("__pycache__")
    )
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="a directory holding another build_tools/")
    args = parser.parse_args()
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BUILD_TOOLS_", "PYTHON", "CUDA_", "OLLAMA_"))
    }
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        inventory = write_json_inventory(tmp / "seed.json", SEED_BOX)
        # Each tree runs from a copy (python -m finds the package in the working directory).
        trees = {"this": copy_package(ROOT, tmp / "this")}
        if args.baseline is not None:
            trees["baseline"] = copy_package(args.baseline, tmp / "baseline")
        modes = {
            "bytecode cached": {**base_env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")},
            "compiled each run": {**base_env, "PYTHONDONTWRITEBYTECODE": "1"},
        }
        tool = [sys.executable, "-m", "build_tools"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "plan --inventory FILE --json": [
                *tool,
                "plan",
                "--inventory",
                str(inventory),
                "--json",
            ],
            "detect --json": [*tool, "detect", "--json"],
            "--help": [*tool, "--help"],
        }
        for mode, env in modes.items():
            print(f"{mode}: median CPU seconds (user + sys) over {args.repeat} runs")
            bare = 0.0
            for name, argv in commands.items():
                runs: dict[str, list[float]] = {label: [] for label in trees}
                for cwd in trees.values():
                    cpu_seconds(argv, cwd, env)  # warm the file cache (and the bytecode cache)
                for _ in range(args.repeat):
                    for label, cwd in trees.items():  # alternately: the same load for both
                        runs[label].append(cpu_seconds(argv, cwd, env))
                median = statistics.median(runs["this"])
                line = f"  {name:30} {median:.3f}"
                if name == "python -c pass":
                    bare = median
                else:
                    line += f"  {median / bare:.1f}x bare python"
                    if "--help" not in name:
                        line += f"  {median / GOAL_CPU_S:.2f}x the goal"
                if "baseline" in runs:
                    before = statistics.median(runs["baseline"])
                    line += f"  | baseline {before:.3f}, {before / median:.2f}x as much"
                print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
