"""`deploy verify` and the rendered HAProxy configuration, with the real HAProxy (fetched from
Debian packages into the test-tools cache) in front of stand-in Ollama instances."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.console import reporter
from build_tools.verify.server import free_port

from boxes import SEED_BOX, uuid_for, write_json_inventory
from deploy_support import make_fake_install

SEED_3060 = [uuid_for(i, "NVIDIA GeForce RTX 3060") for i in range(3)]
SEED_M10 = [uuid_for(i, "Tesla M10") for i in range(3, 7)]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def deployment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The seed box rendered with two stand-in installs and two routed models."""
    seed = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    prefix = tmp_path / "opt"
    for group in ("86", "50"):
        make_fake_install(prefix / group)
    out = tmp_path / "deploy"
    host = tmp_path / "host"
    host.mkdir()
    argv = [
        "deploy", "render", "--inventory", str(seed), "--output", str(out),
        "--prefix", str(prefix), "--host-root", str(host),
        "--model", "tiny-a=86", "--model", "Tiny-B:Q4=50", "--model", "family=50",
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    return out


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["deploy", "verify", *argv, "--json", "--timeout", "30"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def test_each_model_reaches_its_group_through_the_real_router(
    capsys: pytest.CaptureFixture[str], deployment: Path, haproxy_program: Path
) -> None:
    code, report, err = verify(capsys, str(deployment), "--haproxy", str(haproxy_program), "--keep")
    assert code == 0, err
    assert report["ok"] is True
    assert [(r["model"], r["expected"], r["answered_by"]) for r in report["requests"]] == [
        ("tiny-a", "86", ["86"]),
        ("tiny-b:q4", "50", ["50"]),
        ("family", "50", ["50"]),
        ("build-tools-deploy-probe", "86", ["86"]),  # not routed: the default group
    ]
    assert [i["group"] for i in report["instances"]] == ["86", "50"]
    assert all("stopped by SIGTERM" in i["stop"] for i in report["instances"])
    assert report["gpu_observable"] is False
    # Each instance ran with its unit's environment: its own GPUs, Vulkan off.
    for instance, uuids in zip(report["instances"], (SEED_3060, SEED_M10), strict=True):
        log = Path(instance["log"]).read_text()
        (line,) = [x for x in log.splitlines() if x.startswith("environment ")]
        env = json.loads(line.split(" ", 1)[1])
        assert env["CUDA_VISIBLE_DEVICES"] == ",".join(uuids)
        assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        assert env["OLLAMA_VULKAN"] == "0"
        assert env["OLLAMA_DEBUG"] == "1"
    assert report["workdir"] is not None


def test_a_request_that_reaches_the_wrong_instance_fails_with_exit_13(
    capsys: pytest.CaptureFixture[str], deployment: Path, haproxy_program: Path
) -> None:
    mapping = deployment / "router" / "models.map"
    mapping.write_text(mapping.read_text().replace("tiny-a group_86", "tiny-a group_50"))
    code, report, err = verify(capsys, str(deployment), "--haproxy", str(haproxy_program))
    assert code == 13
    assert "tiny-a should reach group 86, but 50 answered it" in err
    (wrong,) = [r for r in report["requests"] if not r["ok"]]
    assert (wrong["model"], wrong["answered_by"]) == ("tiny-a", ["50"])
    assert report["workdir"] is not None  # kept after a failure
    assert Path(report["workdir"], "router", "haproxy.cfg").is_file()


def test_the_rendered_haproxy_configuration_passes_haproxy_check(
    deployment: Path, haproxy_program: Path
) -> None:
    router = deployment / "router"
    result = subprocess.run(
        [str(haproxy_program), "-c", "-C", str(router), "-f", str(router / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout
    (router / "models.map").unlink()
    broken = subprocess.run(
        [str(haproxy_program), "-c", "-C", str(router), "-f", str(router / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode != 0
    assert "models.map" in broken.stdout + broken.stderr


# --- the HAProxy rules themselves, against backends that say who they are ---------------------
class _Named(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        data = json.dumps({"instance": self.server.name}).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def routed(deployment: Path, haproxy_program: Path, tmp_path: Path) -> Iterator[str]:
    """HAProxy on the rendered configuration, its two backends answering with their group."""
    servers = []
    cfg = (deployment / "router" / "haproxy.cfg").read_text()
    for group, port in (("86", 11501), ("50", 11502)):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.name = group  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        cfg = cfg.replace(f"127.0.0.1:{port}\n", f"127.0.0.1:{server.server_address[1]}\n")
    front = free_port()
    cfg = cfg.replace("bind 127.0.0.1:11434\n", f"bind 127.0.0.1:{front}\n")
    router = tmp_path / "router"
    router.mkdir()
    (router / "haproxy.cfg").write_text(cfg)
    (router / "models.map").write_text((deployment / "router" / "models.map").read_text())
    with (tmp_path / "haproxy.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(haproxy_program), "-db", "-C", str(router), "-f", str(router / "haproxy.cfg")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{front}"
    try:
        for _ in range(100):
            try:
                ask(url, "GET", "/api/tags")
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for server in servers:
            server.shutdown()
            server.server_close()


def ask(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url + path, data=body, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def routed_to(url: str, path: str, body: dict[str, Any]) -> str:
    status, data = ask(url, "POST", path, json.dumps(body).encode())
    assert status == 200, data
    return str(data["instance"])


def test_the_router_routes_by_the_model_in_the_body(routed: str) -> None:
    assert routed_to(routed, "/api/generate", {"model": "tiny-a", "prompt": "x"}) == "86"
    assert routed_to(routed, "/api/generate", {"prompt": "x", "model": "tiny-b:q4"}) == "50"
    assert routed_to(routed, "/api/chat", {"model": "Tiny-B:Q4", "messages": []}) == "50"
    assert routed_to(routed, "/v1/chat/completions", {"model": "tiny-b:q4"}) == "50"
    assert routed_to(routed, "/api/show", {"name": "tiny-b:q4"}) == "50"
    assert routed_to(routed, "/api/embed", {"model": "tiny-a:latest", "input": "x"}) == "86"
    # A name routed without a tag takes every tag of it; another tag of a tagged name does not.
    assert routed_to(routed, "/api/generate", {"model": "family:7b"}) == "50"
    assert routed_to(routed, "/api/generate", {"model": "family"}) == "50"
    assert routed_to(routed, "/api/generate", {"model": "tiny-b:other"}) == "86"
    # Everything else goes to the default group.
    assert routed_to(routed, "/api/generate", {"model": "llama3.1:8b"}) == "86"
    assert ask(routed, "GET", "/api/tags") == (200, {"instance": "86"})
    assert ask(routed, "POST", "/api/blobs/sha256:00", b"GGUF\x00binary") == (
        200,
        {"instance": "86"},
    )
    # "model" after a 3 MB message still routes; a body beyond the buffer is refused.
    big = {"messages": [{"role": "user", "content": "x" * 3_000_000}], "model": "tiny-b:q4"}
    assert routed_to(routed, "/api/chat", big) == "50"
    huge = json.dumps({"prompt": "x" * 9_000_000, "model": "tiny-b:q4"}).encode()
    status, data = ask(routed, "POST", "/api/generate", huge)
    assert status == 413
    assert "larger than the router buffer" in data["error"]


def _running_under(directory: Path) -> list[str]:
    """Command lines of live (not zombie) processes that name ``directory``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(directory) in cmdline and state != "Z":
            found.append(cmdline)
    return found


def test_sigterm_stops_every_instance_and_the_router(
    deployment: Path, haproxy_program: Path, tmp_path: Path
) -> None:
    """`deploy verify` killed while a request hangs in an instance leaves nothing running."""
    hang = tmp_path / "hang"
    for group in ("86", "50"):
        binary = tmp_path / "opt" / group / "bin" / "ollama"
        binary.write_text(
            binary.read_text().replace(
                "    def run(self, name):\n",
                "    def run(self, name):\n"
                f"        import time; time.sleep(3600 if os.path.exists({str(hang)!r}) else 0)\n",
            )
        )
    hang.touch()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "build_tools", "deploy", "verify", str(deployment),
         "--haproxy", str(haproxy_program), "--timeout", "60"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("ollama-bt-verify-*/router-haproxy.log")):
            if time.monotonic() > deadline:
                pytest.fail("deploy verify never started its router")
            time.sleep(0.2)
        time.sleep(1.0)  # the first request now hangs in an instance
        started = [c for c in _running_under(tmp_path) if "deploy verify" not in c]
        assert len(started) == 3, started  # two instances and HAProxy
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # the test failed early: let it clean up, then make sure
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert proc.returncode == 130, err
    assert _running_under(tmp_path) == []


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(reporter, "quiet", True)
    # Work directories kept after a failure or with --keep land in tmp_path, not in /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
