"""``deploy verify``: run a rendered deployment on loopback, without systemd, and check that
every model reaches its group's instance through the real router.

1. Read ``deploy.json`` and, per group, the command and environment of its rendered unit
   (:mod:`.unitfile`). Start each instance with exactly that environment except
   ``OLLAMA_HOST`` (a free loopback port), ``OLLAMA_MODELS`` and ``HOME`` (one temporary
   directory shared by all instances, as the shared models directory is in production) and
   ``OLLAMA_DEBUG=1`` (for the per-device log lines). ``CUDA_VISIBLE_DEVICES`` stays as
   rendered: that is what is being checked.
2. Create the tiny generated model (``build_tools.verify.gguf_model``) under every routed name,
   plus a probe name no route names (it must reach the default group). Each name gets its own
   weights (another seed): Ollama shares one runner between names of one blob, so that
   ``/api/ps`` names exactly the model each instance ran.
3. Start the real router from the rendered files, its ports rewritten to the free ones:
   HAProxy (``haproxy -c`` first, then ``haproxy -db``) or the LiteLLM proxy.
4. For each name, one request through the router (HAProxy: native ``/api/generate``; LiteLLM:
   ``/v1/chat/completions``), then ``GET /api/ps`` on every instance: the instance that lists
   the model answered it. Anything but exactly the expected instance fails with exit 13.
5. On a machine with NVIDIA GPUs, each instance's log is compared per GPU with what its group
   promises (its own GPUs used, every other group's hidden), as ``verify`` does.

Everything started is stopped when the run ends, however it ends; SIGTERM is turned into the
same interruption as Ctrl-C for the length of the run, so ``kill`` stops the instances too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from build_tools.console import reporter
from build_tools.deploy.manifest import DeployedGroup, Deployment, read_deployment
from build_tools.deploy.routers import LITELLM_PIN
from build_tools.deploy.unitfile import UnitCommand, read_unit
from build_tools.errors import (
    ConfigurationError,
    RoutingError,
    ToolNotFoundError,
    UnreadableArtifactError,
    VerifyError,
)
from build_tools.gpus.detect import detect_inventory
from build_tools.gpus.inventory import Gpu, Inventory
from build_tools.planning.coverage import GpuCoverage, OllamaRule, cuda_verdict, gpu_coverage
from build_tools.runner import Runner
from build_tools.settings.deploy import DeployVerifySettings
from build_tools.verify.client import OllamaClient
from build_tools.verify.logparse import parse_log
from build_tools.verify.report import GpuCheck, check_gpus, describe_observability
from build_tools.verify.server import RunningServer, background_server, free_port

__all__ = ["DeployReport", "RoutedRequest", "device_checks", "verify_deployment"]

PROBE_MODEL = "build-tools-deploy-probe"
PROMPT = "the tiny model"
# What systemd gives a service that sets no PATH.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, kw_only=True)
class RoutedRequest:
    model: str
    expected: str  # the group whose instance must answer
    answered_by: tuple[str, ...]  # the groups whose instance lists the model in /api/ps
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.answered_by == (self.expected,)

    @property
    def problem(self) -> str | None:
        if self.error is not None:
            return f"{self.model}: {self.error}"
        if self.ok:
            return None
        got = ", ".join(self.answered_by) or "no instance"
        return f"{self.model} should reach group {self.expected}, but {got} answered it"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "expected": self.expected,
            "answered_by": list(self.answered_by),
            "ok": self.ok,
            "error": self.error,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True, kw_only=True)
class InstanceRun:
    group: str
    url: str
    command: tuple[str, ...]
    log: str
    stop: str
    stopped_cleanly: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "url": self.url,
            "command": list(self.command),
            "log": self.log,
            "stop": self.stop,
        }


@dataclass(frozen=True, kw_only=True)
class DeployReport:
    directory: str
    router: str
    router_url: str | None
    instances: tuple[InstanceRun, ...]
    requests: tuple[RoutedRequest, ...]
    devices: dict[str, tuple[GpuCheck, ...]]
    gpu_observable: bool
    notes: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    workdir: str | None = None
    skipped: bool = False  # --dry-run
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_if_failed(self) -> None:
        if self.ok:
            return
        hint = f"logs and router configuration kept in {self.workdir}" if self.workdir else None
        message = "deploy verify failed: " + "; ".join(self.failures)
        if any(not r.ok for r in self.requests):
            raise RoutingError(message, hint=hint)
        raise VerifyError(message, hint=hint)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": self.directory,
            "router": self.router,
            "router_url": self.router_url,
            "instances": [i.to_json() for i in self.instances],
            "requests": [r.to_json() for r in self.requests],
            "gpu_observable": self.gpu_observable,
            "devices": {g: [c.to_json() for c in checks] for g, checks in self.devices.items()},
            "notes": list(self.notes),
            "failures": list(self.failures),
            "workdir": self.workdir,
            "skipped": self.skipped,
        }


# --- the pieces -------------------------------------------------------------------------------
def _executable(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() and os.access(path, os.X_OK) else None


def _router_program(
    settings: DeployVerifySettings, deployment: Deployment, environ: Mapping[str, str]
) -> Path:
    search = environ.get("PATH", SYSTEMD_PATH)
    if settings.router == "haproxy":
        from_unit = None
        if deployment.router_unit is not None:
            with contextlib.suppress(UnreadableArtifactError):
                home = Path(environ["HOME"]) if environ.get("HOME") else None
                from_unit = Path(read_unit(deployment.router_unit, home=home).argv[0])
        found = (
            _executable(settings.haproxy)
            or _executable(from_unit)
            or _executable(Path(shutil.which("haproxy", path=search) or "/nonexistent"))
        )
        if found is None:
            raise ToolNotFoundError(
                "no haproxy to run the rendered router with",
                hint="install it (apt-get install haproxy) or pass --haproxy PATH",
            )
        return found
    found = _executable(settings.litellm) or _executable(
        Path(shutil.which("litellm", path=search) or "/nonexistent")
    )
    if found is None:
        raise ToolNotFoundError(
            "no litellm to run the rendered router with",
            hint=f"python3 -m venv ~/litellm && ~/litellm/bin/pip install '{LITELLM_PIN}', then "
            "pass --litellm ~/litellm/bin/litellm",
        )
    return found


def _check_rendering(deployment: Deployment, router: str) -> None:
    missing = [g.name for g in deployment.groups if g.unit is None]
    if missing:
        raise ConfigurationError(
            f"{deployment.directory} has no systemd units for group(s) {', '.join(missing)}",
            hint="render them: deploy render --format systemd --format router --output DIR",
        )
    if router == "haproxy" and deployment.haproxy is None:
        raise ConfigurationError(
            f"{deployment.directory} has no HAProxy configuration",
            hint="render it: deploy render --format router --router haproxy (with the same "
            "options)",
        )
    if router == "litellm" and deployment.litellm is None:
        raise ConfigurationError(
            f"{deployment.directory} has no LiteLLM configuration",
            hint="render it: deploy render --format router --router litellm",
        )


def _normalise(name: str) -> str:
    return name.lower().removesuffix(":latest")


def _http(
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            text = response.read().decode("utf-8", errors="replace")
            status = int(response.status)
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", errors="replace")
        status = error.code
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return 0, str(getattr(error, "reason", error))
    try:
        return status, json.loads(text.strip().splitlines()[-1]) if text.strip() else {}
    except json.JSONDecodeError:
        return status, text[:200]


def _loaded_models(server: RunningServer, timeout: float) -> set[str]:
    status, data = _http("GET", f"{server.base_url}/api/ps", timeout=timeout)
    if status != 200 or not isinstance(data, dict):
        return set()
    names = set()
    for entry in data.get("models") or []:
        if isinstance(entry, dict):
            names |= {_normalise(str(entry.get(k, ""))) for k in ("name", "model")}
    return names - {""}


def _rewrite_ports(text: str, ports: Mapping[int, int], router: tuple[str, int, int]) -> str:
    """The rendered router configuration with its upstream ports (and its own address) moved
    to the free loopback ports this run uses; nothing else changes."""
    for old, new in ports.items():
        text = re.sub(rf"127\.0\.0\.1:{old}(?!\d)", f"127.0.0.1:{new}", text)
    listen, old_port, new_port = router
    bind = f"[{listen}]:{old_port}" if ":" in listen else f"{listen}:{old_port}"
    return text.replace(f"bind {bind}\n", f"bind 127.0.0.1:{new_port}\n")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while the block runs, so its cleanup runs too."""
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _expected_coverage(group: DeployedGroup, deployment: Deployment) -> tuple[GpuCoverage, ...]:
    """Per GPU of the box: the group's own GPUs as its build plans them, every other group's
    GPUs hidden by CUDA_VISIBLE_DEVICES."""
    archs = group.archs
    lowest = min(archs, key=lambda a: a.number)
    rule = OllamaRule.of_build(deployment.generation, (lowest.major, lowest.minor), deployment.ref)
    coverage = []
    for other in deployment.groups:
        for gpu in other.gpus:
            if other.name == group.name:
                coverage.append(gpu_coverage(gpu, archs, rule, wanted=True))
            else:
                coverage.append(
                    GpuCoverage(
                        gpu=gpu,
                        cuda=cuda_verdict(gpu, archs),
                        ollama_uses=False,
                        reason=f"hidden by CUDA_VISIBLE_DEVICES (group {other.name})",
                        wanted=False,
                    )
                )
    return tuple(coverage)


# --- the run ----------------------------------------------------------------------------------
@dataclass
class _Run:
    deployment: Deployment
    settings: DeployVerifySettings
    workdir: Path
    home: Path | None
    runner: Runner
    api_key: str | None = None  # LiteLLM's master key for this run
    servers: dict[str, RunningServer] = field(default_factory=dict)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    router_url: str | None = None
    requests: list[RoutedRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_units(deployment: Deployment, home: Path | None) -> dict[str, UnitCommand]:
    """Every group's unit, read before anything starts; its program must be installed."""
    units = {}
    for group in deployment.groups:
        assert group.unit is not None
        unit = read_unit(group.unit, home=home)
        if _executable(Path(unit.argv[0])) is None:
            raise ConfigurationError(
                f"group {group.name}'s unit runs {unit.argv[0]}, which is not installed here",
                hint="install the builds (deploy build --prefix DIR) and render with the same "
                "--prefix",
            )
        units[group.name] = unit
    return units


def _start_instances(
    run: _Run, units: Mapping[str, UnitCommand], stack: contextlib.ExitStack
) -> None:
    shared = run.workdir / "shared"
    for sub in ("models", "home"):
        (shared / sub).mkdir(parents=True, exist_ok=True)
    for group in run.deployment.groups:
        unit = units[group.name]
        port = free_port()
        overrides = {
            "OLLAMA_HOST": f"127.0.0.1:{port}",
            "OLLAMA_MODELS": str(shared / "models"),
            "HOME": str(shared / "home"),
            "OLLAMA_DEBUG": "1",
        }
        env = {"PATH": SYSTEMD_PATH, **unit.environment, **overrides}
        workdir = run.workdir / f"group-{group.name}"
        workdir.mkdir()
        run.commands[group.name] = unit.argv
        server = stack.enter_context(
            background_server(
                list(unit.argv),
                env=env,
                shown_env={**unit.environment, **overrides},
                workdir=workdir,
                port=port,
                log_path=run.workdir / f"group-{group.name}.log",
                out=reporter,
                name=f"group {group.name}'s {Path(unit.argv[0]).name}",
            )
        )
        run.servers[group.name] = server
    for server in run.servers.values():
        server.wait_until_ready(run.settings.timeout)


def _names(deployment: Deployment, router: str) -> list[tuple[str, str]]:
    """(model name, the group that must answer it): every routed name, and for HAProxy a
    probe that no route names (it must reach the default group)."""
    names = [(model, group.name) for group in deployment.groups for model in group.models]
    if router == "haproxy":
        names.append((PROBE_MODEL, deployment.default_group.name))
    return names


def _create_models(run: _Run, names: list[tuple[str, str]]) -> None:
    from build_tools.verify.gguf_model import TinyModelSpec, write_tiny_model

    first = next(iter(run.servers.values()))
    client = OllamaClient(first.base_url, timeout=run.settings.timeout)
    version = client.version()
    for seed, (name, _) in enumerate(names, start=1):
        model = write_tiny_model(run.workdir / f"tiny-{seed}.gguf", TinyModelSpec(seed=seed))
        client.push_blob(model)
        client.create(name, model, server_version=version)


def _start_router(run: _Run, program: Path, stack: contextlib.ExitStack) -> None:
    deployment = run.deployment
    ports = {g.port: run.servers[g.name].port for g in deployment.groups}
    port = free_port()
    directory = run.workdir / "router"
    directory.mkdir()
    moved = (deployment.listen, deployment.router_port, port)
    env = {"PATH": SYSTEMD_PATH, "HOME": str(run.workdir / "shared" / "home")}
    if run.settings.router == "haproxy":
        assert deployment.haproxy is not None
        cfg, mapping = deployment.haproxy
        (directory / mapping.name).write_text(mapping.read_text())
        config = directory / cfg.name
        config.write_text(_rewrite_ports(cfg.read_text(), ports, moved))
        run.runner.run(
            [str(program), "-c", "-C", str(directory), "-f", str(config)],
            what="haproxy -c (the rendered configuration, ports moved to this run's)",
            hint=f"the rendered file is {cfg}",
        )
        argv = [str(program), "-db", "-C", str(directory), "-f", str(config)]
        ready, name = "/api/version", "haproxy"
    else:
        assert deployment.litellm is not None
        config = directory / deployment.litellm.name
        config.write_text(_rewrite_ports(deployment.litellm.read_text(), ports, moved))
        run.api_key = f"sk-{secrets.token_hex(16)}"
        run.notes.append("LiteLLM ran with a master key generated for this run")
        env |= {"LITELLM_MASTER_KEY": run.api_key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        argv = [str(program), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        ready, name = "/health/liveliness", "litellm"
    server = stack.enter_context(
        background_server(
            argv,
            env=env,
            shown_env={k: v for k, v in env.items() if k != "LITELLM_MASTER_KEY"},
            workdir=directory,
            port=port,
            log_path=run.workdir / f"router-{name}.log",
            out=reporter,
            name=name,
            ready_path=ready,
        )
    )
    server.wait_until_ready(run.settings.timeout)
    run.router_url = server.base_url
    if run.settings.router == "litellm":
        run.notes.append(
            "the LiteLLM proxy serves only the OpenAI API: requests used /v1/chat/completions"
        )


def _send(run: _Run, model: str, expected: str) -> RoutedRequest:
    assert run.router_url is not None
    timeout = run.settings.timeout
    start = time.monotonic()
    if run.settings.router == "haproxy":
        status, data = _http(
            "POST",
            f"{run.router_url}/api/generate",
            body={
                "model": model,
                "prompt": PROMPT,
                "raw": True,
                "stream": False,
                "keep_alive": "10m",
                "options": {"num_predict": 4, "temperature": 0, "seed": 0},
            },
            timeout=timeout,
        )
    else:
        status, data = _http(
            "POST",
            f"{run.router_url}/v1/chat/completions",
            body={
                "model": model,
                "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": 4,
            },
            headers={"Authorization": f"Bearer {run.api_key}"},
            timeout=timeout,
        )
    seconds = time.monotonic() - start
    error = None if status == 200 else f"the router answered {status or 'nothing'}: {data}"
    answered = tuple(
        name
        for name, server in run.servers.items()
        if _normalise(model) in _loaded_models(server, timeout)
    )
    return RoutedRequest(
        model=model, expected=expected, answered_by=answered, error=error, seconds=seconds
    )


def device_checks(
    group: DeployedGroup, deployment: Deployment, local: Sequence[Gpu], log: Sequence[str]
) -> tuple[GpuCheck, ...]:
    """What one instance's log says about each GPU of the box, against its group.

    G5 logs devices by index, without UUID, and ``verify`` pairs such entries with the local
    GPUs of the same name and compute capability in index order. An instance sees its own
    group's GPUs first (CUDA_VISIBLE_DEVICES), so they are offered first; a device beyond them
    then lands on another group's GPU and fails, as a leak should.
    """
    own = {gpu.uuid for gpu in group.gpus}
    ordered = [g for g in local if g.uuid in own] + [g for g in local if g.uuid not in own]
    offered = [replace(g, index=n) for n, g in enumerate(ordered)]
    checks = check_gpus(_expected_coverage(group, deployment), offered, parse_log(log))
    original = {gpu.uuid: gpu for gpu in local}
    return tuple(
        replace(c, gpu=original.get(c.gpu.uuid, c.gpu)) if not c.planned else c for c in checks
    )


def _device_checks(run: _Run, local: Inventory) -> dict[str, tuple[GpuCheck, ...]]:
    checks = {}
    for group in run.deployment.groups:
        server = run.servers.get(group.name)
        if server is None:
            continue
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
        checks[group.name] = device_checks(group, run.deployment, local.gpus, text.splitlines())
    return checks


def _dry_run(deployment: Deployment, settings: DeployVerifySettings) -> DeployReport:
    names = _names(deployment, settings.router)
    reporter.info(
        f"would start {len(deployment.groups)} instance(s) from their units, create "
        f"{len(names)} tiny model(s), run {settings.router} from the rendered configuration "
        "and send one request per model through it"
    )
    return DeployReport(
        directory=str(deployment.directory),
        router=settings.router,
        router_url=None,
        instances=(),
        requests=(),
        devices={},
        gpu_observable=False,
        skipped=True,
    )


def verify_deployment(
    settings: DeployVerifySettings, runner: Runner, environ: Mapping[str, str]
) -> DeployReport:
    deployment = read_deployment(settings.directory)
    _check_rendering(deployment, settings.router)
    program = _router_program(settings, deployment, environ)
    if runner.dry_run:
        return _dry_run(deployment, settings)
    home = Path(environ["HOME"]) if environ.get("HOME") else None
    units = _read_units(deployment, home)
    local = detect_inventory(runner, path=environ.get("PATH"))
    workdir = Path(tempfile.mkdtemp(prefix="ollama-bt-verify-"))
    run = _Run(deployment=deployment, settings=settings, workdir=workdir, home=home, runner=runner)
    names = _names(deployment, settings.router)
    stops: list[InstanceRun] = []
    try:
        with _sigterm_interrupts(), contextlib.ExitStack() as stack:
            _start_instances(run, units, stack)
            _create_models(run, names)
            _start_router(run, program, stack)
            for model, expected in names:
                request = _send(run, model, expected)
                run.requests.append(request)
                reporter.info(
                    f"{model}: expected group {expected}, answered by "
                    f"{', '.join(request.answered_by) or 'no instance'}"
                )
    except BaseException:
        reporter.warning(f"deploy verify stopped early; logs kept in {workdir}")
        raise
    for name, server in run.servers.items():
        stops.append(
            InstanceRun(
                group=name,
                url=server.base_url,
                command=run.commands[name],
                log=str(server.log_path),
                stop=server.stop_detail,
                stopped_cleanly=server.stopped_cleanly,
            )
        )
    devices = _device_checks(run, local)
    failures = [r.problem for r in run.requests if r.problem]
    failures += [f"group {i.group}: stop: {i.stop}" for i in stops if not i.stopped_cleanly]
    failures += [
        f"group {g}: {c.problem}" for g, checks in devices.items() for c in checks if c.problem
    ]
    observability: list[str] = []
    for checks in devices.values():
        observability += describe_observability(local.gpus, checks)
    kept = settings.keep or bool(failures)
    if not kept:
        shutil.rmtree(workdir, ignore_errors=True)
    return DeployReport(
        directory=str(deployment.directory),
        router=settings.router,
        router_url=run.router_url,
        instances=tuple(stops),
        requests=tuple(run.requests),
        devices=devices,
        gpu_observable=bool(local.gpus),
        notes=(*dict.fromkeys(observability), *run.notes),
        failures=tuple(failures),
        workdir=str(workdir) if kept else None,
    )
