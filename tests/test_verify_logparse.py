"""Server log parsing for verify; the excerpts are shared with test_verify_report.

Log excerpts written from each generation's format strings:
G3: v0.6.8 discover/gpu.go (``[%d] CUDA GPU is too old. Compute Capability detected: %d.%d``)
and discover/types.go ``LogDetails`` (``inference compute`` with ``variant``). G4: v0.24.0
discover/runner.go (``verifying if device is supported``, ``filtering device which didn't
fully initialize``, debug level) and discover/types.go (``description``, ``libdirs``). G5:
v0.33.0-rc2 discover/llama_server.go (``skipping CUDA device — ...``, cc as ``%d%d0``). The
GPUs are the seed box of ``boxes.py``: 3 x RTX 3060 (cc 8.6), 4 x Tesla M10 (cc 5.0).
"""

from __future__ import annotations

from build_tools.verify.logparse import parse_log, slog_fields

from boxes import SEED_BOX, uuid_for

T = "time=2025-05-02T10:00:00.000Z"
RTX = [uuid_for(i, SEED_BOX[i][0]) for i in range(3)]
M10 = [uuid_for(i, SEED_BOX[i][0]) for i in range(3, 7)]


def _g3_device(uuid: str, name: str, cc: str) -> str:
    return (
        f'{T} level=INFO source=types.go:130 msg="inference compute" id={uuid} library=cuda '
        f'variant=v12 compute={cc} driver=12.4 name="{name}" total="11.8 GiB" '
        'available="11.6 GiB"'
    )


def _g45_device(uuid_or_index: str, n: int, name: str, cc: str, driver: str) -> str:
    return (
        f'{T} level=INFO source=types.go:42 msg="inference compute" id={uuid_or_index} '
        f'filter_id="" library=CUDA compute={cc} name=CUDA{n} description="{name}" '
        f"libdirs=ollama,cuda_v12 driver={driver} pci_id=0000:1{n}:00.0 type=discrete "
        'total="12.0 GiB" available="11.8 GiB"'
    )


G3_HEAD = [
    f'{T} level=INFO source=routes.go:1300 msg="Listening on 127.0.0.1:11434 (version 0.6.8)"',
    f'{T} level=INFO source=gpu.go:217 msg="looking for compatible GPUs"',
]
# -X discover.CudaComputeMajorMin=6: the M10s (CUDA indexes 3-6) are "too old".
G3_M10_SKIPPED = [
    *G3_HEAD,
    *(
        f'{T} level=INFO source=gpu.go:303 msg="[{i}] CUDA GPU is too old. Compute Capability '
        'detected: 5.0"'
        for i in range(3, 7)
    ),
    *(_g3_device(u, "NVIDIA GeForce RTX 3060", "8.6") for u in RTX),
]
G3_CPU_ONLY = [
    *G3_HEAD,
    f'{T} level=INFO source=gpu.go:377 msg="no compatible GPUs were discovered"',
    f'{T} level=INFO source=types.go:130 msg="inference compute" id=0 library=cpu variant="" '
    'compute="" driver=0.0 name="" total="31.3 GiB" available="30.4 GiB"',
    f"{T} level=INFO source=server.go:139 msg=offload library=cpu layers.requested=-1 "
    'layers.model=3 layers.offload=0 layers.split="" memory.available="[22.4 GiB]"',
    "load_backend: loaded CPU backend from /opt/ollama/lib/ollama/libggml-cpu-haswell.so",
]

G4_HEAD = [
    f'{T} level=INFO source=routes.go:1660 msg="Listening on 127.0.0.1:11434 (version 0.24.0)"',
    f'{T} level=INFO source=runner.go:67 msg="discovering available GPUs..."',
]


def _g4_verify(uuid: str, name: str, cc: str) -> str:
    return (
        f'{T} level=DEBUG source=runner.go:145 msg="verifying if device is supported" '
        f'library=/opt/ollama/lib/ollama/cuda_v12 description="{name}" compute={cc} id={uuid} '
        "pci_id=0000:3d:00.0"
    )


def _g4_filter(uuid: str) -> str:
    return (
        f"{T} level=DEBUG source=runner.go:152 msg=\"filtering device which didn't fully "
        f'initialize" id={uuid} libdir=/opt/ollama/lib/ollama/cuda_v12 pci_id=0000:3d:00.0 '
        "library=CUDA"
    )


G4_M10_SKIPPED = [
    *G4_HEAD,
    *(_g4_verify(u, "NVIDIA GeForce RTX 3060", "8.6") for u in RTX),
    *(_g4_verify(u, "Tesla M10", "5.0") for u in M10),
    *(_g4_filter(u) for u in M10),
    *(_g45_device(u, n, "NVIDIA GeForce RTX 3060", "8.6", "12.4") for n, u in enumerate(RTX)),
]
# A build whose discovery never validates CUDA GPUs (v0.12.10 - v0.13.0): the M10s are listed.
G4_M10_USED = [
    *G4_HEAD,
    *(_g45_device(u, n, "NVIDIA GeForce RTX 3060", "8.6", "12.4") for n, u in enumerate(RTX)),
    *(_g45_device(u, n + 3, "Tesla M10", "5.0", "12.4") for n, u in enumerate(M10)),
]
G4_CPU_ONLY = [
    *G4_HEAD,
    f'{T} level=INFO source=types.go:60 msg="inference compute" id=cpu library=cpu compute="" '
    'name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" total="31.3 GiB" '
    'available="30.4 GiB"',
]

G5_HEAD = [
    f'{T} level=INFO source=routes.go:1702 msg="Listening on 127.0.0.1:11434 (version 0.33.0-rc2)"',
]


def _g5_skip() -> str:
    return (
        f'{T} level=INFO source=llama_server.go:299 msg="skipping CUDA device — compute '
        'capability not in compiled architectures" device="Tesla M10" cc=500 archs=[860] '
        'libDirs="[/opt/ollama/lib/ollama /opt/ollama/lib/ollama/cuda_v12]"'
    )


G5_M10_SKIPPED = [
    *G5_HEAD,
    *(_g5_skip() for _ in M10),
    *(_g45_device(str(n), n, "NVIDIA GeForce RTX 3060", "8.6", "12.8") for n in range(3)),
]
# An arch list without 86: G5 drops the 3060s too (only the M10 would be listed if 50 were in).
G5_ONLY_M10_USED = [
    *G5_HEAD,
    *(_g45_device(str(n), n, "Tesla M10", "5.0", "12.8") for n in range(4)),
]


def test_slog_fields_unquote_go_strings() -> None:
    line = 'time=x level=INFO msg="a \\"quoted\\" msg" id=GPU-1 name="RTX 3060" empty="" n=3'
    fields = slog_fields(line)
    assert fields["msg"] == 'a "quoted" msg'
    assert fields["name"] == "RTX 3060"
    assert fields["empty"] == ""
    assert fields["n"] == "3"
    assert slog_fields("load_backend: loaded CPU backend from /x.so") == {}


def test_g3_lists_used_gpus_by_uuid_and_too_old_skips_by_cc() -> None:
    findings = parse_log(G3_M10_SKIPPED)
    assert findings.version == "0.6.8"
    assert [d.uuid for d in findings.gpu_devices] == RTX
    assert {d.compute for d in findings.gpu_devices} == {"8.6"}
    assert findings.gpu_devices[0].gpu_name == "NVIDIA GeForce RTX 3060"
    assert [(s.kind, s.index, s.compute) for s in findings.skipped] == [
        ("too_old", i, "5.0") for i in range(3, 7)
    ]
    assert "too old" in findings.skipped[0].reason


def test_g3_cpu_only_run() -> None:
    findings = parse_log(G3_CPU_ONLY)
    assert [(d.library, d.is_gpu) for d in findings.devices] == [("cpu", False)]
    assert findings.cpu_backend == "/opt/ollama/lib/ollama/libggml-cpu-haswell.so"
    assert findings.offloaded == ((0, 3),)
    assert findings.skipped == ()


def test_g4_filtered_devices_take_cc_and_name_from_the_verify_line() -> None:
    findings = parse_log(G4_M10_SKIPPED)
    assert findings.version == "0.24.0"
    assert [d.uuid for d in findings.gpu_devices] == RTX
    assert findings.gpu_devices[0].name == "CUDA0"
    assert findings.gpu_devices[0].gpu_name == "NVIDIA GeForce RTX 3060"
    assert [(s.kind, s.id, s.compute, s.name) for s in findings.skipped] == [
        ("init_failed", u, "5.0", "Tesla M10") for u in M10
    ]
    assert "cuda_v12" in findings.skipped[0].reason


def test_g4_cpu_only_run() -> None:
    findings = parse_log(G4_CPU_ONLY)
    assert [(d.id, d.is_gpu, d.label) for d in findings.devices] == [("cpu", False, "CPU")]


def test_g5_skips_carry_cc_as_arch_number_and_devices_have_no_uuid() -> None:
    findings = parse_log(G5_M10_SKIPPED)
    assert findings.version == "0.33.0-rc2"
    assert [(d.id, d.uuid, d.compute) for d in findings.gpu_devices] == [
        ("0", None, "8.6"),
        ("1", None, "8.6"),
        ("2", None, "8.6"),
    ]
    skip = findings.skipped[0]
    assert (skip.kind, skip.compute, skip.name) == ("arch_not_compiled", "5.0", "Tesla M10")
    assert "500" in skip.reason
    assert "[860]" in skip.reason


def test_repeated_inference_compute_lines_are_one_device() -> None:
    findings = parse_log([*G4_M10_SKIPPED, *G4_M10_SKIPPED[-3:]])
    assert len(findings.gpu_devices) == 3


def test_runner_errors_are_collected() -> None:
    log = [
        "CUDA error: no kernel image is available for execution on the device",
        "time=x level=INFO msg=ok",
    ]
    assert parse_log(log).errors == (log[0],)
