"""Cases that need a child process: hangs (an nvidia-smi, nvcc or git that never returns,
FIFOs), unbounded memory (tar members that declare 20 GB), signals (Ctrl-C while modules load,
SIGTERM/SIGHUP to `verify`), concurrent runs on one work directory, non-UTF-8 argv.

Each child gets BUILD_TOOLS_PROBE_TIMEOUT (support.PROBE_TIMEOUT seconds) and must answer within
support.CASE_TIMEOUT; the memory cases run under an address-space limit, so an attempt to
allocate what a header declares fails fast instead of swapping the machine. After every case
no program the tool started may still run.

The scenarios run concurrently (a thread per child, up to WORKERS at once) in one module-scoped
fixture, each in a box of its own; each test then judges one recorded observation. A hang
therefore costs one CASE_TIMEOUT for the whole module, not one per case.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import Box, build_box, clean_environment
from .support import (
    CASE_TIMEOUT,
    Outcome,
    assert_clean_error,
    assert_ok,
    assert_one_of,
    elf_file,
    fatbin_entry,
    fatbin_section,
    finish,
    gz,
    pid_alive,
    run_cli,
    sparse_member,
    start_cli,
    tar_bytes,
    tar_member,
    wait_for,
    write_program,
)

pytestmark = pytest.mark.processes

WORKERS = 8
CUDA_LIB = "lib/ollama/cuda_v12/libggml-cuda.so"

HANG = """\
import os, sys, time
os.makedirs({pids!r}, exist_ok=True)
open(os.path.join({pids!r}, str(os.getpid())), "w").close()
{before}
while True:
    time.sleep(1)
"""


def _hanging(path: Path, box: Box, before: str = "") -> Path:
    return write_program(path, HANG.format(pids=str(box.root / "pids"), before=before))


def _started_pids(box: Box) -> list[int]:
    pids = box.root / "pids"
    return [int(p.name) for p in pids.iterdir()] if pids.is_dir() else []


@dataclass
class Observation:
    """What a scenario saw: the CLI's answer, and the state it left behind."""

    outcome: Outcome
    left_running: list[int] = field(default_factory=list)  # started by fakes, still alive
    leftovers: list[str] = field(default_factory=list)  # entries in the box's TMPDIR
    started: list[int] = field(default_factory=list)  # every fake program that ran
    note: str = ""


@dataclass
class Ctx:
    box: Box
    env: dict[str, str]
    tree: Path

    def run(
        self, argv: list[str], *, input_bytes: bytes | None = None, limit_memory: bool = False
    ) -> Outcome:
        return run_cli(
            argv,
            env=self.env,
            cwd=self.box.root,
            input_bytes=input_bytes,
            limit_memory=limit_memory,
        )

    def start(
        self, argv: list[str], stdin: int | None = subprocess.DEVNULL
    ) -> subprocess.Popen[bytes]:
        return start_cli(argv, env=self.env, cwd=self.box.root, stdin=stdin)


def _ends_within(pid: int, seconds: float) -> bool:
    return wait_for(lambda: not pid_alive(pid), seconds)


def _observe(ctx: Ctx, outcome: Outcome, note: str = "") -> Observation:
    started = _started_pids(ctx.box)
    left = [pid for pid in started if not _ends_within(pid, 3.0)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    leftovers = sorted(p.name for p in ctx.box.tmp.iterdir()) if ctx.box.tmp.is_dir() else []
    return Observation(outcome, left, leftovers, started, note)


# --- scenarios -------------------------------------------------------------------------------

Scenario = Callable[[Ctx], Observation]
Judge = Callable[[Observation], None]
SCENARIOS: dict[str, tuple[Scenario, Judge]] = {}


def scenario(name: str, judge: Judge) -> Callable[[Scenario], Scenario]:
    def register(run: Scenario) -> Scenario:
        SCENARIOS[name] = (run, judge)
        return run

    return register


def ok_and_clean(observation: Observation) -> None:
    assert_ok(observation.outcome)
    assert not observation.left_running, f"still running: {observation.left_running}"


def ok_json_and_clean(observation: Observation) -> None:
    assert_ok(observation.outcome, json_out=True)
    assert not observation.left_running, f"still running: {observation.left_running}"


def error_and_clean(code: int) -> Judge:
    def judge(observation: Observation) -> None:
        assert_clean_error(observation.outcome, code)
        assert not observation.left_running, f"still running: {observation.left_running}"

    return judge


def one_of(*codes: int) -> Judge:
    def judge(observation: Observation) -> None:
        assert_one_of(observation.outcome, codes)

    return judge


# hangs: nvidia-smi


@scenario("nvidia-smi-hangs-detect", ok_json_and_clean)
def _smi_hang_detect(ctx: Ctx) -> Observation:
    _hanging(ctx.box.fake_bin / "nvidia-smi", ctx.box)
    return _observe(ctx, ctx.run(["detect", "--json"]))


@scenario("nvidia-smi-hangs-after-printing-a-row", ok_json_and_clean)
def _smi_hang_after_output(ctx: Ctx) -> Observation:
    row = "0, GPU-x, NVIDIA GeForce RTX 3060, 8.6, 12288, [N/A], 550.54.14"
    _hanging(ctx.box.fake_bin / "nvidia-smi", ctx.box, before=f"print({row!r}, flush=True)")
    return _observe(ctx, ctx.run(["detect", "--json"]))


def _never_detects(observation: Observation) -> None:
    assert_ok(observation.outcome, json_out=True)
    assert not observation.started, "--arch 86 needs no GPU detection"


@scenario("nvidia-smi-hangs-plan-with-explicit-arch", _never_detects)
def _smi_hang_plan(ctx: Ctx) -> Observation:
    _hanging(ctx.box.fake_bin / "nvidia-smi", ctx.box)
    return _observe(ctx, ctx.run(["plan", "--arch", "86", "--json"]))


@scenario("nvidia-smi-hangs-inspect", ok_json_and_clean)
def _smi_hang_inspect(ctx: Ctx) -> Observation:
    install = ctx.box.root / "install"
    (install / "bin").mkdir(parents=True)
    (install / "bin" / "ollama").write_text("#!/bin/sh\n")
    _hanging(ctx.box.fake_bin / "nvidia-smi", ctx.box)
    return _observe(ctx, ctx.run(["inspect", str(install), "--json"]))


# hangs: nvcc, git


def _nvcc_hang(how: str) -> Scenario:
    def run(ctx: Ctx) -> Observation:
        root = ctx.box.root / "tk-hang"
        _hanging(root / "bin" / "nvcc", ctx.box)
        argv = ["plan", "--inventory", str(ctx.box.inventory), "--arch", "86", "--json"]
        if how == "cuda-home-option":
            argv += ["--cuda-home", str(root)]
        elif how == "cuda-home-env":
            ctx.env["CUDA_HOME"] = str(root)
        else:
            ctx.env["PATH"] = f"{root / 'bin'}{os.pathsep}{ctx.env['PATH']}"
        return _observe(ctx, ctx.run(argv))

    return run


for _how in ("cuda-home-option", "cuda-home-env", "nvcc-on-path"):
    scenario(f"nvcc-hangs-{_how}", error_and_clean(6))(_nvcc_hang(_how))


def _git_hang_judge(observation: Observation) -> None:
    """A git that never answers (a stuck credential helper, an NFS mount): the tool gives up
    with one line (5, 8 or 10 all describe it) and stops git."""
    assert_one_of(observation.outcome, (5, 8, 10))
    assert not observation.left_running, f"still running: {observation.left_running}"


@scenario("git-hangs", _git_hang_judge)
def _git_hang(ctx: Ctx) -> Observation:
    _hanging(ctx.box.fake_bin / "git", ctx.box)
    return _observe(ctx, ctx.run(["patches", "check", "--source-dir", str(ctx.tree)]))


# FIFOs


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


FIFO_CASES = [
    ("library", "libggml-cuda.so", ["inspect", "{path}"], 8),
    ("tarball", "ollama.tgz", ["inspect", "{path}"], 8),
    ("zstd-tarball", "ollama.tar.zst", ["inspect", "{path}"], 8),
    ("library-in-install", "install/" + CUDA_LIB, ["inspect", "{root}/install"], 8),
    ("inventory", "box.json", ["plan", "--inventory", "{path}", "--arch", "86"], 4),
    ("verify-tarball", "ollama.tgz", ["verify", "{path}", "--inventory", "{inventory}"], 8),
]


def _fifo_case(name: str, argv: list[str]) -> Scenario:
    def run(ctx: Ctx) -> Observation:
        root = ctx.box.root / "fifos"
        path = _fifo(root / name)
        if name.startswith("install/"):
            (root / "install" / "bin").mkdir()
            (root / "install" / "bin" / "ollama").write_text("#!/bin/sh\n")
        fields = {"path": str(path), "root": str(root), "inventory": str(ctx.box.inventory)}
        return _observe(ctx, ctx.run([a.format(**fields) for a in argv]))

    return run


for _id, _name, _argv, _code in FIFO_CASES:
    scenario(f"fifo-{_id}", error_and_clean(_code))(_fifo_case(_name, _argv))


@scenario("fifo-toolkit-manifest", ok_and_clean)
def _fifo_manifest(ctx: Ctx) -> Observation:
    root = ctx.box.root / "cache" / "toolkits" / "12.4-debian"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "nvcc").write_text("#!/bin/sh\n")
    _fifo(root / "build-tools-toolkit.json")
    return _observe(ctx, ctx.run(["toolkit", "list", "--cache-dir", str(ctx.box.root / "cache")]))


# unbounded memory

HUGE = 20 * 10**9


def _huge_member_tar(name: str) -> bytes:
    return tar_bytes(
        [tar_member("bin/", kind=tarfile.DIRTYPE), tar_member(name, b"\x7fELF", size=HUGE)]
    )


def _sparse_tar(name: str) -> bytes:
    return sparse_member(name, HUGE) + b"\0" * 1024


# (case id, file name, bytes, the right exit codes). A truncated member is a broken archive
# (8). A sparse member is a complete archive: a library of holes is not ELF (8); a bin/ollama of
# holes has no readable version (0), or is refused as absurdly large (8).
MEMORY_CASES: list[tuple[str, str, bytes, tuple[int, ...]]] = [
    ("library-20gb-plain-tar", "ollama.tar", _huge_member_tar(CUDA_LIB), (8,)),
    ("library-20gb-tgz", "ollama.tgz", gz(_huge_member_tar(CUDA_LIB)), (8,)),
    ("binary-20gb-plain-tar", "ollama.tar", _huge_member_tar("bin/ollama"), (8,)),
    ("binary-20gb-tgz", "ollama.tgz", gz(_huge_member_tar("bin/ollama")), (8,)),
    ("library-20gb-sparse-tar", "ollama.tar", _sparse_tar(CUDA_LIB), (8,)),
    ("library-20gb-sparse-tgz", "ollama.tgz", gz(_sparse_tar(CUDA_LIB)), (8,)),
    ("binary-20gb-sparse-tar", "ollama.tar", _sparse_tar("bin/ollama"), (0, 8)),
    ("binary-20gb-sparse-tgz", "ollama.tgz", gz(_sparse_tar("bin/ollama")), (0, 8)),
]


def _memory_case(name: str, data: bytes) -> Scenario:
    """A few hundred bytes that declare a 20 GB member (truncated, or sparse: holes only)."""

    def run(ctx: Ctx) -> Observation:
        path = ctx.box.file(name, data)
        assert path.stat().st_size < 10_000
        return _observe(ctx, ctx.run(["inspect", str(path)], limit_memory=True))

    return run


for _id, _name, _data, _codes in MEMORY_CASES:
    scenario(f"memory-{_id}", one_of(*_codes))(_memory_case(_name, _data))


def _stdin_memory(data: bytes) -> Scenario:
    def run(ctx: Ctx) -> Observation:
        outcome = ctx.run(["inspect", "-"], input_bytes=data, limit_memory=True)
        return _observe(ctx, outcome)

    return run


scenario("memory-stdin-20gb-truncated", one_of(8))(_stdin_memory(_huge_member_tar(CUDA_LIB)))
scenario("memory-stdin-20gb-sparse", one_of(8))(_stdin_memory(_sparse_tar(CUDA_LIB)))


def _large_member(member: str) -> Scenario:
    """A complete archive with a 1.5 GiB member (a sparse file on disk: no space used), more
    than the memory limit: it is streamed, not read whole."""

    def run(ctx: Ctx) -> Observation:
        size = 1536 * 2**20
        info, _ = tar_member(member, size=size)
        path = ctx.box.root / "big.tar"
        with path.open("wb") as out:
            out.write(info.tobuf(format=tarfile.GNU_FORMAT))
            out.seek(512 + size)
            out.write(b"\0" * 1024)
        return _observe(ctx, ctx.run(["inspect", str(path)], limit_memory=True))

    return run


scenario("memory-real-large-library", one_of(8))(_large_member(CUDA_LIB))
scenario("memory-real-large-binary", one_of(0))(_large_member("bin/ollama"))


@scenario("memory-fatbin-claims-2-62-bytes", one_of(8))
def _fatbin_claim(ctx: Ctx) -> Observation:
    lib = elf_file({".nv_fatbin": fatbin_section([fatbin_entry()], declared=2**62)})
    path = ctx.box.file("libggml-cuda.so", lib)
    return _observe(ctx, ctx.run(["inspect", str(path)], limit_memory=True))


# signals


def _before_the_tool(err: str) -> bool:
    """A KeyboardInterrupt raised while the interpreter itself still starts (site, runpy
    importing the package): no frame of build_tools, which has not begun to run."""
    lines = err.strip().splitlines()
    return bool(lines) and lines[-1] == "KeyboardInterrupt" and "build_tools/" not in err


def _interrupted(observation: Observation) -> None:
    """Exit 130 with one line 'error: interrupted'. A SIGINT that lands before Python has
    started at all kills the interpreter (-SIGINT, what a shell shows as 130): fine, as long
    as nothing was printed; so is Python's own report of an interrupt during its start-up
    (a loaded machine takes longer than the earliest delay to get there), which no code of
    the tool can catch."""
    outcome = observation.outcome
    if outcome.code == -signal.SIGINT and not outcome.err.strip():
        return
    if outcome.code in (1, -signal.SIGINT) and _before_the_tool(outcome.err):
        return
    assert_clean_error(outcome, 130, contains=["interrupt"])


def _ctrl_c(delay: float) -> Scenario:
    def run(ctx: Ctx) -> Observation:
        start = time.monotonic()
        proc = ctx.start(["inspect", "-"], stdin=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        return _observe(ctx, finish(proc, start), note=f"SIGINT after {delay}s")

    return run


for _delay in (0.05, 0.15, 0.3, 0.6, 2.0):
    scenario(f"ctrl-c-after-{_delay}s", _interrupted)(_ctrl_c(_delay))


def _stopped_cleanly(observation: Observation) -> None:
    assert not observation.note, observation.note
    assert not observation.left_running, f"server still running: {observation.left_running}"
    assert observation.leftovers == [], f"temporary files left: {observation.leftovers}"
    assert_clean_error(observation.outcome, 130, contains=["interrupt"])


def _verify_signal(signum: int) -> Scenario:
    def run(ctx: Ctx) -> Observation:
        install = ctx.box.root / "install"
        (install / "lib" / "ollama").mkdir(parents=True)
        _hanging(install / "bin" / "ollama", ctx.box)
        start = time.monotonic()
        argv = ["verify", str(install), "--inventory", str(ctx.box.inventory), "--timeout", "60"]
        proc = ctx.start(argv)
        if not wait_for(lambda: bool(_started_pids(ctx.box)), 3 * CASE_TIMEOUT):
            os.killpg(proc.pid, signal.SIGKILL)
            return _observe(ctx, finish(proc, start), note="the fake server never started")
        time.sleep(0.3)
        proc.send_signal(signum)
        return _observe(ctx, finish(proc, time.monotonic()))

    return run


for _sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    scenario(f"verify-{_sig.name}", _stopped_cleanly)(_verify_signal(_sig))


# concurrency


@scenario("three-patch-checks-on-one-fresh-workdir", ok_and_clean)
def _three_checks(ctx: Ctx) -> Observation:
    workdir = ctx.box.root / "shared-work"
    argv = ["patches", "check", "--source", str(ctx.tree), "--ref", "v0.24.0", "--workdir",
            str(workdir)]  # fmt: skip
    start = time.monotonic()
    procs = [ctx.start(argv) for _ in range(3)]
    outcomes = [finish(proc, start) for proc in procs]
    bad = [o for o in outcomes if o.code != 0 or "Traceback" in o.err]
    return _observe(ctx, bad[0] if bad else outcomes[0])


@scenario("two-refs-on-one-workdir", ok_and_clean)
def _two_refs(ctx: Ctx) -> Observation:
    """Two checks of different refs into one workdir at once: both answer for their ref."""
    workdir = ctx.box.root / "shared-work"
    base = ["patches", "check", "--source", str(ctx.tree), "--workdir", str(workdir)]
    start = time.monotonic()
    procs = [ctx.start([*base, "--ref", ref]) for ref in ("v0.24.0", "main")]
    outcomes = [finish(proc, start) for proc in procs]
    bad = [o for o in outcomes if o.code != 0 or "Traceback" in o.err]
    return _observe(ctx, bad[0] if bad else outcomes[0])


# argv that is not UTF-8


@scenario("non-utf8-path-that-does-not-exist", error_and_clean(2))
def _non_utf8_missing(ctx: Ctx) -> Observation:
    name = os.fsdecode(os.fsencode(str(ctx.box.root)) + b"/caf\xe9.tgz")
    return _observe(ctx, ctx.run(["inspect", name]))


@scenario("non-utf8-inventory-path", ok_json_and_clean)
def _non_utf8_inventory(ctx: Ctx) -> Observation:
    name = os.fsdecode(os.fsencode(str(ctx.box.root)) + b"/box-\xe9.json")
    Path(name).write_bytes(ctx.box.inventory.read_bytes())
    return _observe(ctx, ctx.run(["plan", "--inventory", name, "--arch", "86", "--json"]))


@scenario("non-utf8-arch-value", error_and_clean(2))
def _non_utf8_arch(ctx: Ctx) -> Observation:
    argv = ["plan", "--inventory", str(ctx.box.inventory), "--arch", os.fsdecode(b"8\xff6")]
    return _observe(ctx, ctx.run(argv))


# --- running them all at once, judging them one by one ---------------------------------------


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, g4_tree: Path) -> dict[str, Observation]:
    def one(name: str) -> Observation:
        box = build_box(tmp_path_factory.mktemp(name[:40]))
        ctx = Ctx(box=box, env=clean_environment(box), tree=g4_tree)
        try:
            return SCENARIOS[name][0](ctx)
        except Exception as error:  # a broken scenario is reported by its own test
            return Observation(Outcome(-999, "", ""), note=f"scenario crashed: {error!r}")

    # Longest first: the cases that may hang start at once.
    names = sorted(SCENARIOS, key=lambda n: not n.startswith(("nvidia", "nvcc", "git", "fifo")))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_process_case(name: str, observed: dict[str, Observation]) -> None:
    observation = observed[name]
    assert observation.outcome.code != -999, observation.note
    SCENARIOS[name][1](observation)
