"""Property tests: every parser answers any input with a result or its typed error.

"Typed" means a BuildToolsError subclass (InventoryError, ConfigurationError, PlanError,
UnreadableArtifactError ...), which the CLI turns into one line and its exit code; anything
else would be a traceback. Inputs are random bytes and text plus structured mutations of valid
documents, where the bugs hide. Runs derandomised (the same examples every run) so that the
default suite stays deterministic; raise HYPOTHESIS_PROFILE=explore to search further.
"""

from __future__ import annotations

import json
import os
import struct
import tarfile
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from . import parsers
from .support import (
    elf_file,
    fatbin_entry,
    fatbin_section,
    good_csv,
    good_json,
    gz,
    sparse_member,
    tar_bytes,
    tar_member,
)

settings.register_profile(
    "hostile",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "hostile")
hostile = settings.get_profile(PROFILE)


def typed(call: Callable[[], Any], *errors: type[BaseException]) -> Any:
    """Run ``call``; a typed error is a fine answer, any other exception fails the property."""
    allowed = errors or (parsers.BuildToolsError,)
    try:
        return call()
    except allowed as error:
        return error


# --- building blocks -------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
GPU_KEYS = ["index", "uuid", "name", "compute_capability", "memory_total_mib", "mig_mode"]


@st.composite
def mutated_inventory(draw: st.DrawFn) -> bytes:
    """A valid JSON inventory with some fields replaced by arbitrary JSON values."""
    data: dict[str, Any] = good_json()
    gpus = data["gpus"]
    for _ in range(draw(st.integers(0, 3))):
        gpus.append(dict(gpus[0]))
    for gpu in gpus:
        for key in draw(st.lists(st.sampled_from(GPU_KEYS), max_size=3, unique=True)):
            if draw(st.booleans()):
                gpu[key] = draw(json_values)
            else:
                gpu.pop(key, None)
    if draw(st.booleans()):
        data["gpus"] = draw(st.sampled_from([gpus, gpus[0], None, "x", 1, [None], [[1]]]))
    text = json.dumps(data, allow_nan=True)
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + text.encode()


@st.composite
def mutated_csv(draw: st.DrawFn) -> str:
    """An nvidia-smi capture with cells replaced, rows shortened or lengthened."""
    lines = good_csv().splitlines()
    header, row = lines[0], lines[1].split(", ")
    cells = [
        draw(
            st.text(
                alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                max_size=12,
            )
        )
        if draw(st.booleans())
        else cell
        for cell in row
    ]
    cells = cells[: draw(st.integers(0, len(cells) + 2))]
    body = ", ".join(cells)
    return draw(st.sampled_from([header + "\n", ""])) + body + "\n"


# --- inventories -----------------------------------------------------------------------------


@hostile
@given(st.binary(max_size=512))
def test_inventory_any_bytes(data: bytes) -> None:
    typed(lambda: parsers.inventory_bytes(data), parsers.InventoryError)


@hostile
@given(mutated_inventory())
def test_inventory_mutated_json(data: bytes) -> None:
    typed(lambda: parsers.inventory_bytes(data), parsers.InventoryError)


@hostile
@given(mutated_csv())
def test_inventory_mutated_csv(text: str) -> None:
    typed(lambda: parsers.inventory_bytes(text.encode()), parsers.InventoryError)


@hostile
@given(st.text(max_size=300))
def test_nvidia_smi_output_any_text(text: str) -> None:
    typed(lambda: parsers.smi_csv(text), parsers.InventoryError)


@hostile
@given(mutated_csv())
def test_inventory_values_are_sane(text: str) -> None:
    """What loads is usable: integer index >= 0, a compute capability with major >= 1."""
    result = typed(lambda: parsers.inventory_bytes(text.encode()), parsers.InventoryError)
    if isinstance(result, parsers.InventoryError):
        return
    for gpu in result.gpus:
        assert isinstance(gpu.index, int)
        assert gpu.index >= 0
        assert gpu.cc_major >= 1
        assert 0 <= gpu.cc_minor <= 9
        assert isinstance(gpu.uuid, str)
        assert gpu.uuid
    uuids = [gpu.uuid for gpu in result.gpus]
    assert len(uuids) == len(set(uuids))


# --- architecture tokens, versions -----------------------------------------------------------

arch_like = st.one_of(
    st.text(max_size=16),
    st.from_regex(r"\A(sm_|compute_)?\d{0,4}(\.\d{0,2})?[afz]?(-real|-virtual)?\Z", fullmatch=True),
    st.sampled_from(["native", "all", "all-major", "preset", "", ",", ";", "sm_", "86-real-real"]),
)


@hostile
@given(arch_like)
def test_arch_token(text: str) -> None:
    result = typed(lambda: parsers.arch_token(text), parsers.ConfigurationError)
    if not isinstance(result, parsers.ConfigurationError) and hasattr(result, "number"):
        assert 10 <= result.number <= 999


@hostile
@given(st.lists(arch_like, max_size=4))
def test_arch_list(values: list[str]) -> None:
    result = typed(lambda: parsers.arch_list(values), parsers.ConfigurationError, parsers.PlanError)
    if isinstance(result, list) and any(v.strip(" ,;") for v in values):
        assert result, f"{values!r} parsed to nothing"


@hostile
@given(arch_like)
def test_arch_number(text: str) -> None:
    typed(lambda: parsers.arch_number(text), parsers.ConfigurationError)


@hostile
@given(st.text(max_size=16) | st.from_regex(r"\A-?\d{1,3}(\.\d{1,3}){0,3}\s?\Z", fullmatch=True))
def test_cuda_version(text: str) -> None:
    result = typed(lambda: parsers.cuda_version(text), parsers.ConfigurationError)
    if isinstance(result, str):
        assert result.strip() == result
        assert "\n" not in result


@hostile
@given(st.text(max_size=20))
def test_generation_and_version(text: str) -> None:
    typed(lambda: parsers.generation(text), parsers.ConfigurationError)
    typed(lambda: parsers.ollama_version(text), parsers.ConfigurationError)


# --- profiles files --------------------------------------------------------------------------

toml_values = st.sampled_from(
    ['"86"', "86", '["86"]', "[[86]]", "{x = 1}", "true", "-4", "1e400", "inf", "nan",
     '"-1"', '""', "1979-05-27", '"\\n"', '["50", 52]', "[]", "99999999999999999999"]
)  # fmt: skip
toml_keys = st.sampled_from(
    ["arch", "exclude-arch", "min-arch", "ptx", "ref", "cuda", "jobs", "source-date-epoch",
     "workdir", "inventory", "verify", "description", "patch", "format", "archs", "dry-run"]
)  # fmt: skip


@st.composite
def profiles_document(draw: st.DrawFn) -> bytes:
    lines = ["[profiles.lab]"]
    for key in draw(st.lists(toml_keys, max_size=5, unique=True)):
        lines.append(f"{key} = {draw(toml_values)}")
    text = "\n".join(lines) + "\n"
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff", b"profiles = 1\n"]))
    return prefix + text.encode()


@hostile
@given(profiles_document())
def test_profiles_structured(data: bytes) -> None:
    typed(lambda: parsers.profiles_bytes(data), parsers.ConfigurationError)


@hostile
@given(st.binary(max_size=256))
def test_profiles_any_bytes(data: bytes) -> None:
    typed(lambda: parsers.profiles_bytes(data), parsers.ConfigurationError)


@hostile
@given(st.binary(max_size=128))
def test_pyproject_any_bytes(data: bytes) -> None:
    typed(lambda: parsers.profiles_bytes(data, "pyproject.toml"), parsers.ConfigurationError)


# --- fatbins, ELF files ----------------------------------------------------------------------


@st.composite
def fatbin_bytes(draw: st.DrawFn) -> bytes:
    entries = [
        fatbin_entry(
            kind=draw(st.integers(0, 8)),
            arch=draw(st.integers(0, 2**32 - 1)),
            header_size=draw(st.sampled_from([0x40, 0x48, 0x50, 0, 8])),
            payload=draw(st.binary(max_size=32)),
            flags=draw(st.integers(0, 2**64 - 1)),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    declared = draw(st.none() | st.integers(0, 2**64 - 1))
    data = fatbin_section(entries, declared=declared)
    cut = draw(st.integers(0, len(data)))
    return data[:cut] if draw(st.booleans()) else data


@hostile
@given(fatbin_bytes() | st.binary(max_size=256))
def test_fatbin_parser(data: bytes) -> None:
    """Documented contract of the section parser: entries, or ValueError."""
    typed(lambda: parsers.fatbin(data), ValueError)


@st.composite
def elf_bytes(draw: st.DrawFn) -> bytes:
    section = draw(fatbin_bytes())
    kwargs: dict[str, Any] = {}
    field = draw(st.sampled_from(["none", "e_shoff", "e_shnum", "e_shstrndx", "e_shentsize",
                                  "offset", "size", "name", "class", "truncate"]))  # fmt: skip
    number = draw(st.integers(0, 2**64 - 1))
    if field in ("e_shnum", "e_shstrndx", "e_shentsize"):
        kwargs[field] = number % 2**16
    elif field == "e_shoff":
        kwargs[field] = number
    elif field == "offset":
        kwargs["section_offsets"] = {".nv_fatbin": number}
    elif field == "size":
        kwargs["section_sizes"] = {".nv_fatbin": number}
    elif field == "name":
        kwargs["name_offsets"] = {".nv_fatbin": number % 2**32}
    elif field == "class":
        kwargs["elf_class"] = number % 256
    data = elf_file({".nv_fatbin": section}, **kwargs)
    if field == "truncate":
        data = data[: number % (len(data) + 1)]
    return data


@hostile
@given(elf_bytes() | st.binary(max_size=128))
def test_elf_in_memory(data: bytes) -> None:
    typed(lambda: parsers.elf_audit(data), parsers.UnreadableArtifactError)


@hostile
@given(elf_bytes())
def test_elf_on_disk(data: bytes) -> None:
    typed(lambda: parsers.library_file(data), parsers.UnreadableArtifactError)


@hostile
@given(elf_bytes() | st.binary(max_size=128))
def test_go_binary_strings(data: bytes) -> None:
    """Documented: what cannot be read is left out; it never raises."""
    assert isinstance(parsers.go_strings(data), dict)


@hostile
@given(elf_bytes())
def test_elf_entries_are_sane(data: bytes) -> None:
    """What parses is a plausible arch: sm_10 .. sm_999."""
    result = typed(lambda: parsers.elf_audit(data), parsers.UnreadableArtifactError)
    if isinstance(result, parsers.UnreadableArtifactError):
        return
    for entry in result.entries:
        assume(entry.kind != "other")
        assert 10 <= entry.arch <= 999, entry


# --- tarballs --------------------------------------------------------------------------------

MEMBER_NAMES = ["lib/ollama/cuda_v12/libggml-cuda.so", "bin/ollama", "lib/ollama/libggml-base.so",
                "../evil", "/abs", "lib/ollama/cuda_v13/", "./bin/ollama", ""]  # fmt: skip
KINDS = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE,
         tarfile.CHRTYPE, b"7", b"Z"]  # fmt: skip
VALID_LIB = elf_file({".nv_fatbin": fatbin_section([fatbin_entry()])})


@st.composite
def tar_document(draw: st.DrawFn) -> bytes:
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(MEMBER_NAMES) | st.text(max_size=20))
        if draw(st.integers(0, 9)) == 0:
            # Sparse members: realsize kept small here (the 20 GB case runs in a child process
            # under a memory limit, test_processes.py).
            parts.append(sparse_member(name or "x", draw(st.integers(1, 2**20))))
            continue
        data = draw(st.sampled_from([b"", VALID_LIB, VALID_LIB[:100]]) | st.binary(max_size=64))
        kind = draw(st.sampled_from(KINDS))
        declared = draw(st.none() | st.integers(0, 2**20))
        try:
            info, payload = tar_member(name, data, size=declared, kind=kind,
                                       linkname=draw(st.sampled_from(["", "/etc", "../x", "a"])))  # fmt: skip
            parts.append(tar_bytes([(info, payload)])[:-1024])
        except (ValueError, tarfile.HeaderError, UnicodeError):
            continue
    data = b"".join(parts) + b"\0" * draw(st.sampled_from([0, 512, 1024]))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@hostile
@given(tar_document(), st.sampled_from(["ollama.tar", "ollama.tgz"]))
def test_tarball_scan(data: bytes, name: str) -> None:
    payload = gz(data) if name.endswith(".tgz") else data
    typed(lambda: parsers.scan_bytes(payload, name), parsers.BuildToolsError)


@hostile
@given(st.binary(max_size=512), st.sampled_from(["ollama.tar", "ollama.tgz", "ollama.tar.xz",
                                                 "ollama.tar.bz2", "libggml-cuda.so"]))  # fmt: skip
def test_scan_any_bytes(data: bytes, name: str) -> None:
    typed(lambda: parsers.scan_bytes(data, name), parsers.BuildToolsError)


@hostile
@given(st.binary(min_size=1, max_size=64))
def test_truncated_gzip_is_never_an_empty_install(cut_seed: bytes) -> None:
    """A valid release tarball cut anywhere: the scan fails, or still shows the library."""
    tar = tar_bytes([tar_member("bin/ollama", b"#!/bin/sh\n"),
                     tar_member("lib/ollama/cuda_v12/libggml-cuda.so", VALID_LIB)])  # fmt: skip
    whole = gz(tar)
    cut = int.from_bytes(cut_seed, "big") % len(whole)
    result = typed(lambda: parsers.scan_bytes(whole[:cut], "ollama.tgz"))
    if not isinstance(result, parsers.BuildToolsError):
        assert result.libraries, f"cut at {cut}/{len(whole)} bytes read as an install without CUDA"


# --- server logs ------------------------------------------------------------------------------


@hostile
@given(st.lists(st.text(max_size=120) | st.sampled_from([
    'time=x level=INFO source=types.go:130 msg="inference compute" id=GPU-1 library=cuda '
    'compute=8.6 name=CUDA0 description="RTX" total="12.0 GiB"',
    'level=INFO msg="inference compute" compute=abc total=',
    'msg="skipping CUDA device" compute=', "load_backend: loaded CPU backend from ",
    'msg="offloaded 99999999999999999999/-1 layers to GPU"',
]), max_size=8))  # fmt: skip
def test_server_log(lines: list[str]) -> None:
    parsers.server_log(lines)


def test_struct_helpers_are_consistent() -> None:
    """Guards the generators: the valid ELF parses to one sm_86 entry."""
    audit = parsers.elf_audit(VALID_LIB)
    assert [entry.name for entry in audit.entries] == ["sm_86"]
    assert struct.calcsize("<IHHQ") == 16
