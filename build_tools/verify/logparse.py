"""Read an ``ollama serve`` log: which devices it will infer on, which GPUs it skipped and why.

Ollama logs with Go's ``log/slog`` text handler (``time=... level=INFO source=f.go:12
msg="inference compute" id=GPU-... library=cuda compute=8.6``); values with spaces are quoted
with Go escapes. Runner output (llama.cpp/ggml, plain text) is copied into the same log.

What each generation prints (format strings read from the upstream tags):

* every generation: ``msg="inference compute"`` once per device it will use at startup
  (``GpuInfoList.LogDetails``, discover/types.go); a CPU-only server lists one ``library=cpu``
  entry. G1-G3: ``id=<GPU UUID> library=cuda variant=v12 compute=8.6 name="<GPU name>"``;
  G4/G5: ``id=<UUID (G4) or index (G5)> library=CUDA compute=8.6 name=CUDA0
  description="<GPU name>"``.
* G1-G3 skip: ``msg="[1] CUDA GPU is too old. Compute Capability detected: 5.0"``
  (discover/gpu.go; the index is the CUDA device index, no UUID).
* G4 skip (debug level): ``msg="filtering device which didn't fully initialize" id=<UUID>
  libdir=... library=CUDA``, preceded by ``msg="verifying if device is supported" ... compute=5.0
  id=<UUID>`` which gives its compute capability and name (discover/runner.go).
* G5 skip: ``msg="skipping CUDA device — compute capability not in compiled architectures"
  device="Tesla M10" cc=500 archs=[860]`` (discover/llama_server.go).

The skip messages come from the generation registry (``[GN.runtime] skip_log``); each message
format has one reader here. The parser recognises all formats at once: a log is what it is,
whatever generation was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from build_tools.generations import SkipLog, SkipLogFormat, registry

__all__ = ["InferenceDevice", "LogFindings", "SkippedDevice", "parse_log", "slog_fields"]

# key=value with a Go-quoted or bare value. Keys may contain dots (slog groups: layers.offload).
_FIELD = re.compile(r'(?:^|\s)([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)')
_LISTENING = re.compile(r"Listening on (\S+) \(version ([^)]+)\)")
_LOADED_BACKEND = re.compile(r"load_backend: loaded (\S+) backend from (\S+)")
_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")  # llama.cpp / Go engine
# Lines that mean a GPU kernel or the runner failed: shown in the report as evidence.
_ERROR_MARKERS = (
    "no kernel image is available",
    "CUDA error",
    "GGML_ASSERT",
    "ggml was not compiled with support for this arch",
    "panic:",
    "SIGSEGV",
    "llama runner process has terminated",
    "error loading model",
)
_GO_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}


def _unquote(value: str) -> str:
    if len(value) < 2 or not value.startswith('"'):
        return value
    return re.sub(r"\\(.)", lambda m: _GO_ESCAPES.get(m[1], m[1]), value[1:-1])


def slog_fields(line: str) -> dict[str, str]:
    """The ``key=value`` attributes of one slog text line (empty for other lines)."""
    if "msg=" not in line:
        return {}
    return {key: _unquote(value) for key, value in _FIELD.findall(line)}


def _cc_from_arch(text: str) -> str:
    """G5 logs cc as ``"%d%d0"``: ``500`` -> ``5.0``, ``1200`` -> ``12.0``."""
    digits = text.strip()
    if len(digits) < 3 or not digits.isdigit():
        return digits
    return f"{int(digits[:-2])}.{digits[-2]}"


@dataclass(frozen=True, kw_only=True)
class InferenceDevice:
    """One ``inference compute`` entry: a device this Ollama will schedule models on."""

    id: str
    library: str  # cuda / CUDA / cpu / rocm / Vulkan ...
    compute: str  # "8.6", "" for the CPU
    name: str  # G1-G3: the GPU's name; G4/G5: "CUDA0"
    description: str  # G4/G5: the GPU's name
    line: str

    @property
    def is_gpu(self) -> bool:
        return self.library.lower() not in {"cpu", ""}

    @property
    def uuid(self) -> str | None:
        return self.id if self.id.startswith(("GPU-", "MIG-")) else None

    @property
    def gpu_name(self) -> str:
        return self.description or self.name

    @property
    def label(self) -> str:
        if not self.is_gpu:
            return "CPU"
        cc = f", cc {self.compute}" if self.compute else ""
        return f"{self.library} {self.gpu_name or self.id} ({self.id}{cc})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "library": self.library,
            "compute_capability": self.compute or None,
            "name": self.gpu_name or None,
            "line": self.line,
        }


@dataclass(frozen=True, kw_only=True)
class SkippedDevice:
    """A GPU that this Ollama saw and left out, with the reason it logged."""

    kind: SkipLogFormat
    reason: str
    id: str | None = None  # UUID (G4)
    index: int | None = None  # CUDA device index (G1-G3)
    compute: str | None = None  # "5.0"
    name: str | None = None
    line: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "id": self.id,
            "index": self.index,
            "compute_capability": self.compute,
            "name": self.name,
            "line": self.line,
        }


@dataclass(frozen=True, kw_only=True)
class LogFindings:
    devices: tuple[InferenceDevice, ...]
    skipped: tuple[SkippedDevice, ...]
    version: str | None  # from "Listening on ... (version X)"
    loaded_backends: tuple[tuple[str, str], ...]  # (name, library path) from load_backend lines
    offloaded: tuple[tuple[int, int], ...]  # (layers on GPU, layers) per model load
    errors: tuple[str, ...]

    @property
    def gpu_devices(self) -> tuple[InferenceDevice, ...]:
        return tuple(d for d in self.devices if d.is_gpu)

    @property
    def cpu_backend(self) -> str | None:
        """Where the CPU backend was loaded from, if the runner said so."""
        return next((path for name, path in self.loaded_backends if name == "CPU"), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "inference_devices": [d.to_json() for d in self.devices],
            "skipped_gpus": [s.to_json() for s in self.skipped],
            "loaded_backends": [{"name": n, "path": p} for n, p in self.loaded_backends],
            "offloaded_layers": [{"gpu": g, "total": t} for g, t in self.offloaded],
            "errors": list(self.errors),
        }


def _device(fields: dict[str, str], line: str) -> InferenceDevice:
    return InferenceDevice(
        id=fields.get("id", ""),
        library=fields.get("library", ""),
        compute=fields.get("compute", ""),
        name=fields.get("name", ""),
        description=fields.get("description", ""),
        line=line,
    )


def _init_failed(
    fields: dict[str, str], line: str, probed: dict[str, dict[str, str]]
) -> SkippedDevice:
    uuid = fields.get("id")
    probe = probed.get(uuid or "", {})
    libdir = fields.get("libdir", "")
    where = f" in {libdir}" if libdir else ""
    return SkippedDevice(
        kind="init_failed",
        reason="failed the per-GPU init check (GGML_CUDA_INIT: compute capability not in the "
        f"compiled architectures, or the library could not drive it){where}",
        id=uuid,
        compute=probe.get("compute"),
        name=probe.get("description") or None,
        line=line,
    )


def _arch_not_compiled(fields: dict[str, str], line: str) -> SkippedDevice:
    cc = _cc_from_arch(fields.get("cc", ""))
    archs = fields.get("archs", "").strip("[]").replace(" ", ",")
    return SkippedDevice(
        kind="arch_not_compiled",
        reason=f"compute capability {fields.get('cc', '?')} not in the compiled architectures "
        f"[{archs}]",
        compute=cc or None,
        name=fields.get("device") or None,
        line=line,
    )


def _too_old(match: re.Match[str], line: str) -> SkippedDevice:
    cc = f"{match[2]}.{match[3]}"
    return SkippedDevice(
        kind="too_old",
        reason=f"'CUDA GPU is too old': cc {cc} is below this Ollama's minimum",
        index=int(match[1]),
        compute=cc,
        line=line,
    )


@cache
def _too_old_pattern(message: str) -> re.Pattern[str]:
    return re.compile(
        rf"\[(\d+)\] {re.escape(message)}\. Compute Capability detected: (\d+)\.(\d+)"
    )


def _skip(
    skip_logs: tuple[SkipLog, ...],
    msg: str,
    fields: dict[str, str],
    line: str,
    probed: dict[str, dict[str, str]],
) -> SkippedDevice | None:
    for skip in skip_logs:
        if skip.format == "init_failed" and msg == skip.message:
            return _init_failed(fields, line, probed)
        if skip.format == "arch_not_compiled" and msg.startswith(skip.message):
            return _arch_not_compiled(fields, line)
        if skip.format == "too_old" and (match := _too_old_pattern(skip.message).search(line)):
            return _too_old(match, line)
    return None


def parse_log(lines: Iterable[str], skip_logs: tuple[SkipLog, ...] | None = None) -> LogFindings:
    """Collect the device decisions and the evidence of a run from a server log.

    ``skip_logs``: the messages that say a GPU was left out (default: every generation's)."""
    if skip_logs is None:
        skip_logs = tuple(dict.fromkeys(s for g in registry().generations for s in g.skip_logs))
    probes = {s.probe_message for s in skip_logs if s.probe_message is not None}
    devices: dict[tuple[str, str], InferenceDevice] = {}
    skipped: list[SkippedDevice] = []
    probed: dict[str, dict[str, str]] = {}  # G4: UUID -> "verifying if device is supported"
    version = None
    backends: list[tuple[str, str]] = []
    offloaded: list[tuple[int, int]] = []
    errors: list[str] = []
    for raw in lines:
        line = raw.rstrip("\n")
        fields = slog_fields(line)
        msg = fields.get("msg", "")
        if msg == "inference compute":
            # Logged again if discovery reruns: keep one entry per device.
            devices.setdefault(
                (fields.get("library", ""), fields.get("id", "")), _device(fields, line)
            )
        elif msg in probes:  # the line before a skip that names the GPU and its cc
            probed[fields.get("id", "")] = fields
        elif (skip := _skip(skip_logs, msg, fields, line, probed)) is not None:
            skipped.append(skip)
        if match := _LISTENING.search(line):
            version = match[2]
        if match := _LOADED_BACKEND.search(line):
            backends.append((match[1], match[2]))
        if match := _OFFLOADED.search(line):
            offloaded.append((int(match[1]), int(match[2])))
        elif msg == "offload" and fields.get("layers.offload", "").isdigit():
            # G3/G4 server-side estimate: msg=offload library=cpu layers.model=3 layers.offload=0
            offloaded.append((int(fields["layers.offload"]), int(fields.get("layers.model", 0))))
        if any(marker in line for marker in _ERROR_MARKERS):
            errors.append(line)
    return LogFindings(
        devices=tuple(devices.values()),
        skipped=tuple(skipped),
        version=version,
        loaded_backends=tuple(dict.fromkeys(backends)),
        offloaded=tuple(offloaded),
        errors=tuple(errors),
    )
