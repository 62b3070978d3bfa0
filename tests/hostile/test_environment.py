"""A hostile machine: an nvidia-smi that prints garbage, an nvcc that cannot run or lies,
git missing, output files that cannot be written.

A broken nvidia-smi is treated like a missing driver: an empty inventory and a notice that
names nvidia-smi (README: no GPU is not an error). A broken toolkit is exit 6. A required
program that is missing is exit 5. Hangs are in test_processes.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import Box
from .support import assert_error_code, assert_ok, good_csv, run_main, snapshot

GOOD_ROW = good_csv(header=False).strip() + ", [N/A], 550.54.14"

# (case id, Python body of nvidia-smi)
SMI_CASES: list[tuple[str, str]] = [
    ("garbage-text", 'print("Segmentation fault? no: garbage !!!")\n'),
    ("binary-output", "import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)\n"),
    ("short-row", 'print("0, GPU-short")\n'),
    ("non-integer-index", 'print("zero, GPU-x, RTX 3060, 8.6, 12288, [N/A], 550.54.14")\n'),
    ("cc-not-a-number", 'print("0, GPU-x, RTX 3060, eight, 12288, [N/A], 550.54.14")\n'),
    ("cc-negative", 'print("0, GPU-x, RTX 3060, -1.0, 12288, [N/A], 550.54.14")\n'),
    ("memory-overflow", 'print("0, GPU-x, RTX 3060, 8.6, 1e999, [N/A], 550.54.14")\n'),
    ("csv-field-too-large", 'print("0, GPU-x, " + "N" * 200000 + ", 8.6, 1, [N/A], 550")\n'),
    ("unterminated-quote", "print('0, GPU-x, \"RTX, 8.6, 1, [N/A], 550')\n"),
    ("header-instead-of-rows", 'print("index, uuid, name")\n'),
    ("error-message-exit-0", 'print("No devices were found")\n'),
    ("killed-by-signal", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)\n"),
    ("exit-255", "import sys; sys.exit(255)\n"),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=n) for n, b in SMI_CASES])
def test_detect_with_broken_nvidia_smi(
    body: str, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    box.nvidia_smi(body)
    outcome = run_main(["detect", "--json"], capsys)
    assert_ok(outcome, json_out=True)
    data = json.loads(outcome.out)
    assert data["gpus"] == []
    assert any("nvidia-smi" in notice for notice in data["notices"]), data["notices"]


@pytest.mark.parametrize("body", [pytest.param(b, id=n) for n, b in SMI_CASES[:6]])
def test_plan_with_explicit_archs_never_runs_nvidia_smi(
    body: str, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    box.nvidia_smi(body)
    outcome = run_main(["plan", "--arch", "86", "--json"], capsys)
    assert_ok(outcome, json_out=True)
    assert not box.smi_called(), "--arch 86 needs no GPU detection"


def test_detect_with_working_nvidia_smi(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    """Baseline: the fake nvidia-smi itself is fine when it prints real output."""
    box.nvidia_smi(f'import sys\nif "--query-gpu" in " ".join(sys.argv): print({GOOD_ROW!r})\n')
    outcome = run_main(["detect", "--json"], capsys)
    assert_ok(outcome, json_out=True)
    assert len(json.loads(outcome.out)["gpus"]) == 1


def test_nvidia_smi_not_executable(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    (box.fake_bin / "nvidia-smi").chmod(0o644)
    assert_ok(run_main(["detect", "--json"], capsys), json_out=True)


# --- CUDA toolkits that cannot be used -------------------------------------------------------

NVCC_CASES: list[tuple[str, str, int]] = [
    ("exits-1", "import sys; sys.exit(1)\n", 0o755),
    ("garbage-version", 'print("nvcc: whatever you want")\n', 0o755),
    ("no-arch-lists", 'print("Cuda compilation tools, release 12.4, V12.4.131")\n', 0o755),
    ("non-utf8-output", "import sys; sys.stdout.buffer.write(b'\\xff\\xfe release \\x80')\n", 0o755),
    ("killed-by-signal", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n", 0o755),
    ("not-executable", 'print("Cuda compilation tools, release 12.4, V12.4.131")\n', 0o644),
]  # fmt: skip


@pytest.mark.parametrize(("body", "mode"), [pytest.param(b, m, id=n) for n, b, m in NVCC_CASES])
@pytest.mark.parametrize("how", ["cuda-home-option", "cuda-home-env", "nvcc-on-path"])
def test_broken_nvcc(
    body: str,
    mode: int,
    how: str,
    box: Box,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = box.toolkit_with(body, mode=mode)
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", "--json"]
    if how == "cuda-home-option":
        argv += ["--cuda-home", str(root)]
    elif how == "cuda-home-env":
        monkeypatch.setenv("CUDA_HOME", str(root))
    else:
        if mode & 0o111 == 0:
            pytest.skip("PATH lookup skips programs that are not executable")
        monkeypatch.setenv("PATH", f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert_error_code(run_main(argv, capsys), 6)


def test_nvcc_with_bad_interpreter(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    root = box.root / "tk-bad-interpreter"
    nvcc = root / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/nonexistent/interpreter\n")
    nvcc.chmod(0o755)
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", "--cuda-home", str(root)]
    assert_error_code(run_main(argv, capsys), 6)


@pytest.mark.parametrize("kind", ["missing", "is-a-file", "nvcc-is-a-directory", "nvcc-loop"])
def test_cuda_home_option_unusable(kind: str, box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    root = box.root / "tk-odd"
    if kind == "is-a-file":
        root = box.file("tk-file", "x")
    elif kind == "nvcc-is-a-directory":
        (root / "bin" / "nvcc").mkdir(parents=True)
    elif kind == "nvcc-loop":
        (root / "bin").mkdir(parents=True)
        (root / "bin" / "nvcc").symlink_to(root / "bin" / "nvcc")
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", "--cuda-home", str(root)]
    assert_error_code(run_main(argv, capsys), 6)


def test_cuda_home_version_mismatch(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", "--cuda", "13.0",
            "--cuda-home", str(box.toolkit)]  # fmt: skip
    assert_error_code(run_main(argv, capsys), 6)


def test_good_fake_toolkit(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    """Baseline for the nvcc cases: the fake toolkit itself plans fine."""
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", "--json",
            "--cuda-home", str(box.toolkit)]  # fmt: skip
    outcome = run_main(argv, capsys)
    assert_ok(outcome, json_out=True)
    assert json.loads(outcome.out)["toolkit"]["version"] == "12.4"


# --- programs missing ------------------------------------------------------------------------


def test_git_missing(
    box: Box, g4_tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(box.fake_bin))
    outcome = run_main(["patches", "check", "--source-dir", str(g4_tree)], capsys)
    assert_error_code(outcome, 5, contains=["git"])


def test_host_compiler_missing(
    box: Box, dry_build: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("CUDAHOSTCXX", str(box.root / "no-such-g++"))
    assert_error_code(run_main(dry_build, capsys), 5)


# --- output files ----------------------------------------------------------------------------


def _unwritable(kind: str, box: Box) -> str:
    if kind == "is-a-directory":
        path = box.root / "a-dir"
        path.mkdir()
        return str(path)
    if kind == "under-a-file":
        return str(box.file("a-file", "x") / "box.json")
    if kind == "dev-full":
        return "/dev/full"
    if kind == "missing-parent":
        return str(box.root / "no" / "such" / "dir" / "box.json")
    if kind == "read-only":
        path = box.root / "ro"
        path.mkdir()
        path.chmod(0o555)
        if os.access(path, os.W_OK):
            return "/sys/ollama-build-tools-hostile/box.json"
        return str(path / "box.json")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["is-a-directory", "under-a-file", "dev-full", "missing-parent", "read-only"]
)
def test_detect_output_unwritable(kind: str, box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    target = _unwritable(kind, box)
    before = snapshot(box.root)
    outcome = run_main(["detect", "--output", target], capsys)
    assert_error_code(outcome, 2, contains=["--output"] if kind != "dev-full" else [])
    assert snapshot(box.root) == before
