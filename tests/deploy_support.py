"""pytest plugin for the deploy tests: a stand-in ``bin/ollama``, the real HAProxy from Debian
packages (no root), and the checks of the routers' and systemd's own parsers.

The stand-in serves the API calls ``deploy verify`` makes, with the one property of a shared
``OLLAMA_MODELS`` that routing depends on: a model created through any instance can be run by
every instance (blobs and manifests live in that directory), and ``/api/ps`` lists what *this*
instance ran. It logs the GPU variables it was started with, so tests can check that the unit's
environment reached it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from build_tools.paths import default_cache_dir
from build_tools.runner import Runner

from programs import require

__all__ = [
    "FAKE_OLLAMA",
    "haproxy_program",
    "make_fake_install",
    "systemd_verify",
]

FAKE_OLLAMA = textwrap.dedent(
    """\
    import hashlib, json, os, signal, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    def log(text):
        sys.stderr.write(text + "\\n"); sys.stderr.flush()
    if sys.argv[1:] != ["serve"]:
        sys.exit(2)
    host = os.environ["OLLAMA_HOST"]
    models = os.environ["OLLAMA_MODELS"]
    os.makedirs(os.path.join(models, "blobs"), exist_ok=True)
    os.makedirs(os.path.join(models, "manifests"), exist_ok=True)
    keys = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "OLLAMA_VULKAN", "OLLAMA_NOPRUNE",
            "OLLAMA_DEBUG", "HOME")
    log("environment " + json.dumps({k: os.environ.get(k) for k in keys}, sort_keys=True))
    loaded = []
    def norm(name):
        name = name.lower()
        return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
    def manifest(name):
        return os.path.join(models, "manifests", hashlib.sha256(norm(name).encode()).hexdigest())
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code); self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/json")
            self.end_headers(); self.wfile.write(data)
        def do_GET(self):
            if self.path == "/api/ps":
                return self.reply(200, {"models": [{"name": n, "model": n} for n in loaded]})
            self.reply(200, {"version": "0.24.0"})
        def run(self, name):
            if not os.path.exists(manifest(name)):
                self.reply(404, {"error": f"model '{name}' not found"}); return False
            if norm(name) not in loaded:
                loaded.append(norm(name))
            log(f'[GIN] | 200 | POST "{self.path}" model={norm(name)}')
            return True
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.startswith("/api/blobs/sha256:"):
                digest = self.path.rsplit(":", 1)[1]
                if hashlib.sha256(body).hexdigest() != digest:
                    return self.reply(400, {"error": "digest mismatch"})
                with open(os.path.join(models, "blobs", "sha256-" + digest), "wb") as f:
                    f.write(body)
                return self.reply(201, {})
            request = json.loads(body)
            if self.path == "/api/create":
                for digest in request["files"].values():
                    if not os.path.exists(os.path.join(models, "blobs", digest.replace(":", "-"))):
                        return self.reply(400, {"error": "unknown blob"})
                with open(manifest(request["model"]), "w") as f:
                    json.dump(request["files"], f)
                return self.reply(200, {"status": "success"})
            if self.path == "/api/generate" and self.run(request["model"]):
                return self.reply(200, {"model": request["model"], "response": " river stone",
                                        "done": True, "done_reason": "length", "eval_count": 4})
            if self.path == "/api/chat" and self.run(request["model"]):
                return self.reply(200, {"model": request["model"], "done": True,
                                        "message": {"role": "assistant", "content": " river"},
                                        "done_reason": "length", "eval_count": 4,
                                        "prompt_eval_count": 3})
            if self.path == "/api/show":
                return self.reply(200, {"details": {"family": "llama"}, "model_info": {}})
            self.reply(404, {"error": f"{self.path} is not served by this stand-in"})
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    ip, port = host.split(":")
    server = ThreadingHTTPServer((ip, int(port)), Handler)
    log(f'msg="Listening on {host} (version 0.24.0)"')
    log('msg="inference compute" id=cpu library=cpu compute="" name=cpu description=cpu '
        'libdirs=ollama driver="" pci_id="" type="" total="31.3 GiB" available="30.4 GiB"')
    server.serve_forever()
    """
)


def make_fake_install(root: Path) -> Path:
    """``root/bin/ollama``: the stand-in, as an install prefix of one group."""
    (root / "bin").mkdir(parents=True)
    (root / "lib" / "ollama").mkdir(parents=True)
    binary = root / "bin" / "ollama"
    binary.write_text(f"#!{sys.executable}\n" + FAKE_OLLAMA)
    binary.chmod(0o755)
    return root


def systemd_verify(
    units: list[Path], *, user: bool, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on rendered units, isolated from this machine's drop-ins
    (SYSTEMD_UNIT_PATH: the units' own directory, then the distribution's units)."""
    analyze = require("systemd-analyze", "it is systemd's own unit parser", install="systemd")
    directory = units[0].parent
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_LOG_COLOR": "0"}
    argv = [str(analyze)]
    if user:
        runtime = tmp_path / "xdg-runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        env["SYSTEMD_UNIT_PATH"] = f"{directory}:/usr/lib/systemd/user"
        argv.append("--user")
    else:
        env["SYSTEMD_UNIT_PATH"] = f"{directory}:/lib/systemd/system"
    argv += ["verify", "--man=no", *(str(u) for u in units)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


# --- HAProxy from Debian packages, without root -------------------------------------------------
def _codename() -> str | None:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return None
    match = re.search(r"^VERSION_CODENAME=(\w+)$", text, re.M)
    return match[1] if match else None


def _depends(deb: Path) -> list[str]:
    field = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True, check=True
    ).stdout
    names = []
    for clause in field.split(","):
        first = clause.split("|")[0].strip()
        if first:
            names.append(first.split()[0].split(":")[0])
    return names


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return result.returncode == 0 and "ok installed" in result.stdout


def _download_haproxy(root: Path, codename: str) -> None:
    from build_tools.errors import BuildToolsError
    from build_tools.toolkit.apt import DEFAULT_KEYRING, PrivateApt, find_debian_mirror
    from build_tools.toolkit.debfile import extract_members

    for tool in ("apt-get", "dpkg-deb", "dpkg-query"):
        require(tool, "HAProxy is fetched from Debian packages", install="a Debian-based system")
    try:
        mirror, keyring = find_debian_mirror()
    except BuildToolsError as error:
        pytest.skip(f"no Debian mirror to fetch HAProxy from: {error}")
    keyring = keyring if keyring is not None and keyring.is_file() else DEFAULT_KEYRING
    apt = PrivateApt(
        root.parent / f"apt-{codename}", mirror=mirror, keyring=keyring, suite=codename
    )
    staging = Path(tempfile.mkdtemp(prefix="haproxy-", dir=root.parent))
    debs = staging / "debs"
    wanted, done = ["haproxy"], set()
    # The package and, two levels deep, the libraries it needs that this machine lacks.
    for _ in range(3):
        todo = [p for p in wanted if p not in done]
        if not todo:
            break
        apt.download(todo, debs, Runner())
        done.update(todo)
        wanted = [
            dep
            for deb in debs.glob("*.deb")
            for dep in _depends(deb)
            if dep not in done and not _installed(dep)
        ]
    tree = staging / "tree"
    for deb in debs.glob("*.deb"):
        extract_members(deb, tree, ["./usr/sbin/haproxy", "./usr/lib/*", "./lib/*"])
    shutil.rmtree(debs)
    # Paths as they will be once the staging directory is renamed into place.
    libs = ":".join(
        str(root / "tree" / d) for d in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu")
    )
    wrapper = tree / "haproxy"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'LD_LIBRARY_PATH="{libs}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" '
        f'exec "{root}/tree/usr/sbin/haproxy" "$@"\n'
    )
    wrapper.chmod(0o755)
    staging.rename(root)


@pytest.fixture(scope="session")
def haproxy_program() -> Path:
    """HAProxy from this machine's Debian release, fetched once into the test-tools cache with
    ``apt-get download`` under a private apt configuration and unpacked there (no root, nothing
    installed): a wrapper that runs it with its unpacked libraries."""
    codename = _codename()
    if codename is None:
        pytest.skip("not a Debian-based system (no VERSION_CODENAME): HAProxy is not fetched")
    root = default_cache_dir() / "test-tools" / f"haproxy-{codename}"
    wrapper = root / "tree" / "haproxy"
    if not wrapper.is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        _download_haproxy(root, codename)
    check = subprocess.run([str(wrapper), "-v"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        pytest.skip(
            f"HAProxy from the {codename} packages does not run here: {check.stderr[-300:]}"
        )
    return wrapper
