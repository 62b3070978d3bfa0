"""verify's process and HTTP handling against a stand-in ``bin/ollama`` (a small Python server).

The stand-in speaks the API calls verify makes (version, blob upload checked against its
digest, create with ``files``, generate) and prints G4-style CPU-only log lines; modes make it
crash at start, ignore SIGTERM, or answer generate with an empty completion.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

import pytest
from test_verify_logparse import G4_M10_USED

from build_tools.__main__ import main
from build_tools.console import reporter
from build_tools.errors import UnreadableArtifactError, VerifyError
from build_tools.generations import OllamaVersion
from build_tools.gpus.cpuinfo import CpuInfo
from build_tools.gpus.inventory import Inventory
from build_tools.planning.arch_plan import ArchRequest, make_arch_plan
from build_tools.runner import Runner
from build_tools.verify import Expectation, run_verification, verify_install
from build_tools.verify.server import ollama_server
from build_tools.verify.unpack import find_install_root, unpack_tarball

from boxes import SEED_BOX, inventory
from plan_values import generation

FAKE_OLLAMA = textwrap.dedent(
    """\
    import hashlib, json, os, signal, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    MODE = os.environ.get("FAKE_MODE") or open(os.path.join(os.path.dirname(__file__),
        "mode")).read().strip()
    T = "time=2025-05-02T10:00:00.000Z"
    def log(text):
        sys.stderr.write(text + "\\n"); sys.stderr.flush()
    if sys.argv[1:] != ["serve"]:
        sys.exit(2)
    if MODE == "crash":
        log("Error: listen tcp: address already in use"); sys.exit(1)
    host = os.environ["OLLAMA_HOST"]
    assert os.environ["OLLAMA_DEBUG"] == "1" and "OLLAMA_FLASH_ATTENTION" not in os.environ
    blobs = {}
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code); self.send_header("Content-Length", str(len(data)))
            self.end_headers(); self.wfile.write(data)
        def do_GET(self):
            self.reply(200, {"version": "0.24.0"})
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.startswith("/api/blobs/sha256:"):
                digest = self.path.rsplit(":", 1)[1]
                if hashlib.sha256(body).hexdigest() != digest:
                    return self.reply(400, {"error": "digest mismatch"})
                blobs["sha256:" + digest] = body
                return self.reply(201, {})
            request = json.loads(body)
            if self.path == "/api/create":
                if not set(request["files"].values()) <= set(blobs):
                    return self.reply(400, {"error": "unknown blob"})
                return self.reply(200, {"status": "success"})
            assert request["stream"] is False and request["options"]["num_predict"] == 8
            log("load_backend: loaded CPU backend from /fake/lib/ollama/libggml-cpu-x64.so")
            log("load_tensors: offloaded 0/3 layers to GPU")
            text = "" if MODE == "empty" else " river stone cloud"
            self.reply(200, {"response": text, "done": True, "done_reason": "length",
                             "eval_count": 8, "load_duration": 5000000})
    if MODE == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    ip, port = host.split(":")
    server = ThreadingHTTPServer((ip, int(port)), Handler)
    log(f'{T} level=INFO source=routes.go:1660 msg="Listening on {host} (version 0.24.0)"')
    log(f'{T} level=INFO source=types.go:60 msg="inference compute" id=cpu library=cpu '
        'compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" '
        'total="31.3 GiB" available="30.4 GiB"')
    extra = os.path.join(os.path.dirname(__file__), "extra-log")
    if os.path.exists(extra):
        log(open(extra).read().rstrip())
    server.serve_forever()
    """
)

NO_GPUS = Inventory(gpus=(), source="none")
EXPECT = Expectation(coverage=(), generation=generation("G4"), source="test")


def make_install(root: Path, mode: str = "ok", extra_log: list[str] | None = None) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "lib" / "ollama").mkdir(parents=True)
    binary = root / "bin" / "ollama"
    binary.write_text(f"#!{sys.executable}\n" + FAKE_OLLAMA)
    binary.chmod(0o755)
    (root / "bin" / "mode").write_text(mode)
    if extra_log:
        (root / "bin" / "extra-log").write_text("\n".join(extra_log))
    return root


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Work directories kept after a failed run land in tmp_path, not in /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("OLLAMA_FLASH_ATTENTION", "1")  # must not reach the server
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(reporter, "quiet", True)


@pytest.mark.usefixtures("quiet_env")
def test_cpu_only_run_passes_and_says_gpu_use_was_not_observed(tmp_path: Path) -> None:
    install = make_install(tmp_path / "install")
    report = run_verification(install, EXPECT, Runner(), local=NO_GPUS, timeout=30)
    assert report.ok, report.failures
    assert report.completion == " river stone cloud"
    assert report.ollama_version == "0.24.0"
    assert [s.name for s in report.steps] == [
        "start server",
        "create model",
        "generate",
        "stop server",
    ]
    assert "stopped by SIGTERM" in report.steps[-1].detail
    assert report.gpu_observable is False
    assert "GPU use could not be observed" in report.notes[0]
    assert "CPU backend loaded from /fake/lib/ollama/libggml-cpu-x64.so" in report.notes
    assert "ignored inherited settings: OLLAMA_FLASH_ATTENTION" in report.notes
    assert report.workdir is None  # removed after a clean run
    data = report.to_json()
    assert data["ok"] is True
    assert data["log"]["inference_devices"][0]["library"] == "cpu"


@pytest.mark.usefixtures("quiet_env")
def test_server_that_dies_at_start_fails_with_its_log_tail(tmp_path: Path) -> None:
    install = make_install(tmp_path / "install", "crash")
    report = run_verification(install, EXPECT, Runner(), local=NO_GPUS, timeout=30)
    assert not report.ok
    assert report.failures[0].startswith("start server: ollama serve exited with code 1")
    assert "address already in use" in report.failures[0]
    assert report.steps[-1].name == "stop server"
    assert report.steps[-1].detail == "had already exited with code 1"
    assert len(report.failures) == 1
    assert report.workdir is not None
    assert Path(report.workdir, "ollama-serve.log").exists()  # kept after a failure
    with pytest.raises(VerifyError, match="verify failed"):
        report.raise_if_failed()


@pytest.mark.usefixtures("quiet_env")
def test_empty_completion_fails(tmp_path: Path) -> None:
    install = make_install(tmp_path / "install", "empty")
    report = run_verification(install, EXPECT, Runner(), local=NO_GPUS, timeout=30)
    assert report.failures == ("generate: the model generated no text (done_reason=length)",)


@pytest.mark.usefixtures("quiet_env")
def test_server_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    install = make_install(tmp_path / "install", "stubborn")
    with ollama_server(install, tmp_path / "work", out=reporter, stop_timeout=1) as server:
        server.wait_until_ready(30)
        pid = server.pid
    assert "killed" in server.stop_detail
    assert not server.stopped_cleanly
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_dry_run_starts_nothing(tmp_path: Path) -> None:
    report = run_verification(tmp_path, EXPECT, Runner(dry_run=True), local=NO_GPUS)
    assert report.skipped
    assert report.ok


def _tarball(path: Path, members: dict[str, bytes], link: tuple[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            archive.addfile(info)
    return path


def test_unpack_refuses_escaping_entries(tmp_path: Path) -> None:
    bad = _tarball(tmp_path / "bad.tgz", {"bin/ollama": b"x", "../evil": b"x"})
    with pytest.raises(UnreadableArtifactError, match=r"\.\./evil"):
        unpack_tarball(bad, tmp_path / "out", Runner())
    assert not (tmp_path / "evil").exists()
    link = _tarball(tmp_path / "link.tgz", {"bin/ollama": b"x"}, ("lib/x", "../../etc/passwd"))
    with pytest.raises(UnreadableArtifactError, match="leaves the archive"):
        unpack_tarball(link, tmp_path / "out2", Runner())


def test_unpack_and_find_the_install_root(tmp_path: Path) -> None:
    good = _tarball(tmp_path / "ok.tgz", {"ollama-0.6.8/bin/ollama": b"#!", "ollama-0.6.8/x": b""})
    unpack_tarball(good, tmp_path / "out", Runner())
    assert find_install_root(tmp_path / "out") == tmp_path / "out" / "ollama-0.6.8"
    assert os.access(tmp_path / "out" / "ollama-0.6.8" / "bin" / "ollama", os.X_OK)


@pytest.mark.usefixtures("quiet_env", "empty_path")
def test_verify_command_on_a_tarball_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install = make_install(tmp_path / "install")
    members = {
        str(p.relative_to(install)): p.read_bytes() for p in install.rglob("*") if p.is_file()
    }
    tarball = _tarball(tmp_path / "ollama.tgz", members)
    argv = ["verify", str(tarball), "--exclude-arch", "50", "--ollama-generation", "G4"]
    assert main([*argv, "--timeout", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["completion"] == " river stone cloud"
    assert data["generation"] == "G4"
    assert data["expected_from"].startswith("the audit of ")


@pytest.mark.usefixtures("quiet_env")
def test_excluded_m10_in_the_server_log_fails_verify_naming_it(tmp_path: Path) -> None:
    install = make_install(tmp_path / "install", extra_log=G4_M10_USED)
    request = ArchRequest(
        exclude_tokens=("50",),
        generation=generation("G4"),
        ref=OllamaVersion.parse("v0.24.0"),
        cuda_version="12.4",
    )
    plan = make_arch_plan(request, inventory(SEED_BOX), None)
    report = verify_install(install, plan, Runner(), timeout=30, local=inventory(SEED_BOX))
    assert report.completion == " river stone cloud"  # start, create, generate all worked
    assert len(report.failures) == 4
    assert report.failures[0].startswith("GPU 3 Tesla M10 (cc 5.0, GPU-")
    assert [c.observed for c in report.gpus] == ["used"] * 7
    with pytest.raises(VerifyError, match="Tesla M10") as raised:
        report.raise_if_failed()
    assert raised.value.exit_code == 13


@pytest.mark.usefixtures("quiet_env")
def test_report_names_the_installs_cpu_variants_and_the_one_this_cpu_loads(
    tmp_path: Path,
) -> None:
    install = make_install(tmp_path / "install")
    for name in ("libggml-cpu-x64.so", "libggml-cpu-haswell.so", "libggml-cpu-icelake.so"):
        (install / "lib" / "ollama" / name).write_bytes(b"placeholder")
    flags = frozenset(["sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"])
    local = dataclasses.replace(NO_GPUS, cpu=CpuInfo(arch="x86_64", flags=flags))
    report = run_verification(install, EXPECT, Runner(), local=local, timeout=30)
    assert report.ok, report.failures
    assert (
        "CPU variants in the install: haswell, icelake, x64; this CPU loads haswell" in report.notes
    )
