"""Benchmark: cold build vs no-op re-run vs warm compiler cache in a fresh work directory.

    .venv/bin/python benchmarks/bench_build.py [--cuda 12.4] [--real]

Fixture (always): builds the miniature G4 fixture tree from tests/ (real cmake, ninja, nvcc, go)
with ccache (the pinned PyPI build, an empty cache directory of its own) and reports, all
measured in this one run:

* cold build vs no-op re-run of the same command (goal: no-op <= 3 s);
* cold build vs the same build in a fresh work directory under another parent, with the
  compiler cache the cold build filled (goal: >= 10x faster on a real tag);
* `plan` wall time.

Real tag (``--real``, opt-in; needs ``BUILD_TOOLS_OLLAMA_REPO``, a clone of ollama/ollama, and
about 30 minutes on two cores): ``--tag`` (v0.6.8) cold, no-op, warm cache in a fresh work
directory, and ``--neighbour`` (v0.6.7) in another fresh work directory after it (a
neighbouring tag, warm cache; goal: >= 5x faster than cold when its ggml sources are the same).
Both tags are committed into one throwaway repository, as the two releases of one source, so
that they share a checkout name like two tags of one clone do.

Timings depend on the machine; compare ratios, not absolute numbers. Needs the CUDA toolkit
in the cache (installed on first use, about 1.3 GB for 12.4).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from build_tools.compiler_cache import provision  # noqa: E402
from build_tools.paths import default_cache_dir  # noqa: E402
from build_tools.runner import Runner  # noqa: E402

from boxes import SEED_BOX, write_json_inventory  # noqa: E402
from ollama_fixture import write_fixture  # noqa: E402

NOOP_GOAL_S = 3.0
PLAN_GOAL_S = 0.15
WARM_GOAL = 10.0  # cold / warm cache in a fresh work directory
NEIGHBOUR_GOAL = 5.0  # cold / neighbouring tag with a warm cache
REPO_VARIABLE = "BUILD_TOOLS_OLLAMA_REPO"


def run_build(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Wall time of one ``build --json`` and its summary."""
    start = time.perf_counter()
    result = subprocess.run([*argv, "--json"], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"build failed ({result.returncode}): {' '.join(argv)}")
    summary: dict[str, Any] = json.loads(result.stdout)
    return seconds, summary


def cache_text(summary: dict[str, Any]) -> str:
    cache = summary.get("compiler_cache") or {}
    build = cache.get("build")
    if not build:
        return "no compiler cache"
    return f"{cache['program']}: {build['hits']} hits, {build['misses']} misses"


def skipped_text(summary: dict[str, Any]) -> str:
    names = [s["step"] for s in summary.get("skipped", [])]
    return f"skipped {', '.join(names)}" if names else "nothing skipped"


def report(label: str, seconds: float, summary: dict[str, Any], cold: float | None) -> None:
    ratio = "" if cold is None else f"  cold/this = {cold / seconds:6.1f}x"
    print(f"{label:34s} {seconds:8.2f} s{ratio}  ({cache_text(summary)}; {skipped_text(summary)})")


def commit_tags(repo: Path, tags: list[str], dest: Path) -> Path:
    """One repository at ``dest`` with one commit per tag (in order), each tagged."""
    from real_source import _archive  # the tests' reader of a clone with missing blobs

    dest.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}

    def git(*args: str, **extra: str) -> None:
        subprocess.run(["git", "-C", str(dest), *args], check=True, env=env | extra)

    git("init", "-q")
    for tag in tags:
        subprocess.run(["git", "-C", str(dest), "rm", "-rqf", "--ignore-unmatch", "."], check=True)
        with tarfile.open(fileobj=io.BytesIO(_archive(repo, tag)), mode="r:") as archive:
            archive.extractall(dest, filter="data")
        when = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%cI", tag],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        git("add", "-A")
        git("commit", "-q", "-m", tag, GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
        git("tag", tag)
    return dest


def bench_fixture(tool: list[str], tmp: Path, cuda: str, env: dict[str, str]) -> None:
    source = write_fixture(tmp / "ollama", generation="G4")
    inventory = write_json_inventory(tmp / "seed.json", SEED_BOX)

    def build(workdir: Path) -> list[str]:
        return [
            *tool, "build", "--source", str(source), "--workdir", str(workdir),
            "--inventory", str(inventory), "--exclude-arch", "50", "--cuda", cuda,
            "--compiler-cache", "ccache", "--dist-dir", str(workdir.parent / "dist"),
        ]  # fmt: skip

    print("fixture (G4, arch 86, ccache):")
    cold, summary = run_build(build(tmp / "a" / "work"), env)
    report("  cold build", cold, summary, None)
    noop, summary = run_build(build(tmp / "a" / "work"), env)
    report("  no-op re-run", noop, summary, cold)
    warm, summary = run_build(build(tmp / "b" / "elsewhere" / "work"), env)
    report("  warm cache, fresh work directory", warm, summary, cold)
    print(f"  no-op goal <= {NOOP_GOAL_S} s: {'met' if noop <= NOOP_GOAL_S else 'MISSED'}")
    plan = [*tool, "plan", "--inventory", str(inventory), "--exclude-arch", "50", "--json"]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(plan, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    plan_s = statistics.median(times)
    print(f"  plan (median of 5)                 {plan_s:8.3f} s  (goal <= {PLAN_GOAL_S} s)")


def bench_real(
    tool: list[str], tmp: Path, cuda: str, env: dict[str, str], *, tag: str, neighbour: str
) -> None:
    repo_value = os.environ.get(REPO_VARIABLE)
    if not repo_value:
        raise SystemExit(f"--real needs {REPO_VARIABLE}: a clone of github.com/ollama/ollama")
    source = commit_tags(Path(repo_value), [neighbour, tag], tmp / "ollama")
    inventory = write_json_inventory(tmp / "seed.json", SEED_BOX)

    def build(workdir: Path, ref: str) -> list[str]:
        return [
            *tool, "build", "--source", str(source), "--ref", ref, "--workdir", str(workdir),
            "--inventory", str(inventory), "--exclude-arch", "50", "--cuda", cuda,
            "--compiler-cache", "ccache", "--dist-dir", str(workdir.parent / "dist"),
        ]  # fmt: skip

    print("real Ollama (arch 86, ccache):")
    cold, summary = run_build(build(tmp / "a" / "work", tag), env)
    report(f"  {tag} cold", cold, summary, None)
    noop, summary = run_build(build(tmp / "a" / "work", tag), env)
    report(f"  {tag} no-op re-run", noop, summary, cold)
    warm, summary = run_build(build(tmp / "b" / "x" / "work", tag), env)
    report(f"  {tag} warm cache, fresh workdir", warm, summary, cold)
    near, summary = run_build(build(tmp / "c" / "y" / "work", neighbour), env)
    report(f"  {neighbour} after {tag}, fresh workdir", near, summary, cold)
    print(
        f"  goals: no-op <= {NOOP_GOAL_S} s {'met' if noop <= NOOP_GOAL_S else 'MISSED'}; "
        f"warm >= {WARM_GOAL}x {'met' if cold / warm >= WARM_GOAL else 'MISSED'}; "
        f"neighbour >= {NEIGHBOUR_GOAL}x {'met' if cold / near >= NEIGHBOUR_GOAL else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", default="12.4")
    parser.add_argument("--real", action="store_true", help=f"also a real tag ({REPO_VARIABLE})")
    parser.add_argument("--no-fixture", action="store_true", help="only the real-tag benchmark")
    parser.add_argument("--tag", default="v0.6.8", help="the real tag built cold (--real)")
    parser.add_argument(
        "--neighbour",
        default="v0.6.7",
        help="the tag built after it with the warm cache (--real). v0.6.7 -> v0.6.8 changed "
        "ggml-cuda/common.cuh, so most CUDA objects differ; v0.9.5 -> v0.9.6 left ggml/src alone",
    )
    args = parser.parse_args()
    tool = [sys.executable, "-m", "build_tools", "-q"]
    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch:
        tmp = Path(scratch)
        # The compiler cache of this run only: the first build is cold, the later ones warm.
        env = {**os.environ, "CCACHE_DIR": str(tmp / "ccache")}
        for name in ("CCACHE_BASEDIR", "CCACHE_NOHASHDIR", "CCACHE_CONFIGPATH"):
            env.pop(name, None)
        # Install the toolkit and the pinned ccache outside the timed runs.
        subprocess.run([*tool, "toolkit", "install", "--cuda", args.cuda], check=True, env=env)
        provision("ccache", default_cache_dir(env), Runner())
        if not args.no_fixture:
            bench_fixture(tool, tmp / "fixture", args.cuda, env)
        if args.real:
            bench_real(tool, tmp / "real", args.cuda, env, tag=args.tag, neighbour=args.neighbour)
    return 0


if __name__ == "__main__":
    sys.exit(main())
