"""Installing real toolkits: what a user checks after `toolkit install`.

The session fixtures (tests/toolkit_fixtures.py) install into the machine's real cache, so
after the first run these tests reuse the downloads and installs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.errors import ToolkitError
from build_tools.runner import Runner
from build_tools.toolkit import (
    Toolkit,
    ToolkitCache,
    ToolkitRequest,
    check_host_compiler,
    install_toolkit,
    list_installed,
    resolve_toolkit,
)
from build_tools.toolkit.cache import MANIFEST
from build_tools.toolkit.layout import REQUIRED_FILES
from build_tools.toolkit.nvcc import probe_toolkit

pytestmark = pytest.mark.toolchain


def test_cuda12_install_reports_its_archs(cuda12_toolkit: Toolkit) -> None:
    tk = cuda12_toolkit
    assert (tk.version, tk.full_version, tk.provider) == ("12.4", "12.4.131", "debian")
    assert tk.sass_archs[0] == "50"
    assert {"50", "61", "70", "86", "90"} <= set(tk.sass_archs)
    assert "100" not in tk.sass_archs
    assert "120" not in tk.ptx_archs
    # Archs are as nvcc lists them: numbers only, no prefix, no suffix.
    assert all(arch.isdigit() for arch in (*tk.sass_archs, *tk.ptx_archs))
    assert (tk.root / "bin" / "cuobjdump").is_file()  # Debian ships it; keep it


def test_cuda13_install_reports_its_archs(cuda13_toolkit: Toolkit) -> None:
    tk = cuda13_toolkit
    assert (tk.version, tk.full_version, tk.provider) == ("13.0", "13.0.88", "pypi")
    assert tk.sass_archs[0] == "75"
    assert {"75", "86", "90", "100", "120"} <= set(tk.sass_archs)
    # The toolkit side of "asking for 50 with 13.0 fails": the list the planner checks.
    assert "50" not in tk.sass_archs
    assert "61" not in tk.ptx_archs


@pytest.mark.parametrize("fixture", ["cuda12_toolkit", "cuda13_toolkit"])
def test_roots_have_the_full_layout(fixture: str, request: pytest.FixtureRequest) -> None:
    tk: Toolkit = request.getfixturevalue(fixture)
    for rel in REQUIRED_FILES:
        assert (tk.root / rel).exists(), rel
    assert not tk.nvcc.is_symlink()
    assert (tk.root / "lib").readlink() == Path("lib64")
    # The probe of the committed root agrees with the manifest the install wrote.
    probed = probe_toolkit(tk.root, tk.provider, Runner(echo=False))
    assert probed == tk
    assert check_host_compiler(tk.root, tk.version, Runner(echo=False)).family in {"gcc", "clang"}


def test_cuda13_rejects_sm50_in_nvcc(cuda13_toolkit: Toolkit, tmp_path: Path) -> None:
    source = tmp_path / "k.cu"
    source.write_text("__global__ void k() {}\n", encoding="utf-8")
    result = subprocess.run(
        [str(cuda13_toolkit.nvcc), "-arch=sm_50", "-c", str(source), "-o", str(tmp_path / "k.o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Unsupported gpu architecture" in result.stderr + result.stdout


def test_second_install_is_a_fast_no_op(cuda13_toolkit: Toolkit, toolkit_cache: Path) -> None:
    manifest = cuda13_toolkit.root / MANIFEST
    before = manifest.stat().st_mtime_ns
    start = time.monotonic()
    again = install_toolkit("13.0", "pypi", cache_dir=toolkit_cache, runner=Runner())
    assert time.monotonic() - start < 2.0
    assert again == cuda13_toolkit
    assert manifest.stat().st_mtime_ns == before


def test_resolve_uses_cache_system_and_dry_run(
    cuda12_toolkit: Toolkit, cuda13_toolkit: Toolkit, toolkit_cache: Path, tmp_path: Path
) -> None:
    runner = Runner(echo=False)
    cached = ToolkitRequest(
        cuda_version="12.4", provider=None, cuda_home=None, cache_dir=toolkit_cache
    )
    assert resolve_toolkit(cached, runner, install=False) == cuda12_toolkit
    # An existing toolkit named with --cuda-home is used as a system toolkit.
    system = ToolkitRequest(
        cuda_version=None, provider=None, cuda_home=cuda13_toolkit.root, cache_dir=tmp_path
    )
    found = resolve_toolkit(system, runner, install=False)
    assert found is not None
    assert (found.provider, found.version, found.sass_archs) == (
        "system",
        "13.0",
        cuda13_toolkit.sass_archs,
    )
    with pytest.raises(ToolkitError, match=r"is CUDA 13\.0, not 12\.4"):
        resolve_toolkit(
            ToolkitRequest(
                cuda_version="12.4", provider="system", cuda_home=cuda13_toolkit.root,
                cache_dir=tmp_path,
            ),
            runner,
            install=False,
        )  # fmt: skip
    # Not cached and not allowed to install: the error names the command that fixes it.
    empty = ToolkitRequest(cuda_version="13.0", provider=None, cuda_home=None, cache_dir=tmp_path)
    with pytest.raises(ToolkitError, match="not installed") as caught:
        resolve_toolkit(empty, runner, install=False)
    assert "toolkit install --cuda 13.0" in str(caught.value.hint)
    # --dry-run: the planned toolkit, with the pinned arch lists, and nothing written.
    planned = resolve_toolkit(empty, Runner(dry_run=True, echo=False), install=True)
    assert planned is not None
    assert planned.sass_archs == cuda13_toolkit.sass_archs
    assert not (tmp_path / "toolkits").exists()


def test_pypi_cu12_explains_the_missing_compiler(toolkit_cache: Path) -> None:
    with pytest.raises(ToolkitError) as caught:
        install_toolkit("12.4", "pypi", cache_dir=toolkit_cache, runner=Runner())
    message = str(caught.value)
    assert "cannot be assembled from PyPI" in message
    assert "contains only bin/ptxas" in message
    assert "no nvcc, cudafe++, fatbinary, nvlink, cicc" in message
    assert "debian" in message
    assert ToolkitCache(toolkit_cache).find("12.4", "pypi") is None


def _seed_downloads(real_cache: Path, cache: Path) -> None:
    """Reuse the real cache's wheels (symlinks) so the test does not download 0.5 GB again."""
    source = ToolkitCache(real_cache).downloads_for("13.0", "pypi")
    dest = ToolkitCache(cache).downloads_for("13.0", "pypi")
    dest.mkdir(parents=True)
    for wheel in source.glob("*.whl"):
        (dest / wheel.name).symlink_to(wheel)


INSTALL_SCRIPT = """\
import sys
from pathlib import Path
from build_tools.runner import Runner
from build_tools.toolkit import install_toolkit
install_toolkit("13.0", "pypi", cache_dir=Path(sys.argv[1]), runner=Runner())
"""


def test_killed_install_counts_as_nothing_then_recovers(
    cuda13_toolkit: Toolkit, toolkit_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    _seed_downloads(toolkit_cache, cache)
    base = cache / "toolkits"
    proc = subprocess.Popen(
        [sys.executable, "-c", INSTALL_SCRIPT, str(cache)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not any((stage / "bin" / "nvcc").exists() for stage in base.glob(".staging-*")):
            assert proc.poll() is None, "the install ended before it could be killed"
            assert time.monotonic() < deadline, "the install never started staging"
            time.sleep(0.02)
    finally:
        proc.kill()  # SIGKILL: no cleanup code runs in the child
        proc.wait()
    assert proc.returncode < 0
    assert list(base.glob(".staging-*")), "the kill should have left a staging directory"
    assert list_installed(cache) == []
    assert ToolkitCache(cache).find("13.0", "pypi") is None
    request = ToolkitRequest(cuda_version="13.0", provider=None, cuda_home=None, cache_dir=cache)
    with pytest.raises(ToolkitError, match="not installed"):
        resolve_toolkit(request, Runner(echo=False), install=False)

    # The next install cleans the leftovers and succeeds from the cached downloads.
    toolkit = install_toolkit("13.0", "pypi", cache_dir=cache, runner=Runner())
    assert toolkit.sass_archs == cuda13_toolkit.sass_archs
    assert not list(base.glob(".staging-*"))
    capsys.readouterr()

    # CLI: list shows it (JSON on stdout), remove deletes install and downloads, list is empty.
    assert main(["toolkit", "list", "--json", "--cache-dir", str(cache)]) == 0
    listed = json.loads(capsys.readouterr().out)
    [entry] = listed["toolkits"]
    assert entry["version"] == "13.0"
    assert entry["provider"] == "pypi"
    assert entry["path"] == str(base / "13.0-pypi")
    assert entry["sass_archs"] == list(cuda13_toolkit.sass_archs)
    assert entry["size_bytes"] > 500 * 2**20
    # The human listing (stderr) gives each path a line of its own, so it can be copied.
    assert main(["toolkit", "list", "--cache-dir", str(cache)]) == 0
    assert f"CUDA 13.0 (pypi): {base / '13.0-pypi'}" in capsys.readouterr().err.splitlines()
    assert main(["toolkit", "remove", "--cuda", "13.0", "--cache-dir", str(cache)]) == 0
    assert main(["toolkit", "list", "--json", "--cache-dir", str(cache)]) == 0
    assert json.loads(capsys.readouterr().out)["toolkits"] == []
    assert not ToolkitCache(cache).downloads_for("13.0", "pypi").exists()
    # Removing the symlinked downloads must not touch the real cache's files.
    assert any(ToolkitCache(toolkit_cache).downloads_for("13.0", "pypi").glob("*.whl"))


def test_cli_install_is_a_no_op_with_json(
    cuda12_toolkit: Toolkit, toolkit_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["toolkit", "install", "--cuda", "12.4", "--json", "--cache-dir", str(toolkit_cache)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == str(cuda12_toolkit.root)
    assert data["full_version"] == "12.4.131"
    assert data["sass_archs"][0] == "50"
