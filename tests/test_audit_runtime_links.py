"""Every shipped library loads the CUDA runtime from inside the package, or the audit fails.

Install trees are written here with ELF files made byte by byte (``elf_fixture``): what they
need (DT_NEEDED) and where they search (DT_RPATH/DT_RUNPATH) is all the audit reads.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

import pytest
from elf_fixture import elf_bytes, write_elf
from hypothesis import given
from hypothesis import strategies as st

from build_tools.__main__ import main
from build_tools.audit import AuditError, UnreadableArtifactError, audit_runtime_links
from build_tools.audit.dynamic import DynamicInfo, read_dynamic
from build_tools.audit.runtime_links import runtime_links

CUDA = "lib/ollama/cuda_v12"


def ship_runtime(lib: Path) -> None:
    """cudart (a SONAME link to the real file), cublas needing cublasLt, as CUDA ships them."""
    write_elf(lib / "libcudart.so.12.4.127", ["libc.so.6"])
    (lib / "libcudart.so.12").symlink_to("libcudart.so.12.4.127")
    write_elf(lib / "libcublas.so.12", ["libcublasLt.so.12", "libc.so.6"], runpath=["$ORIGIN"])
    write_elf(lib / "libcublasLt.so.12", ["libc.so.6"], runpath=["$ORIGIN"])


def install(root: Path, **search: list[str]) -> Path:
    lib = root / CUDA
    write_elf(
        lib / "libggml-cuda.so", ["libcudart.so.12", "libcublas.so.12", "libc.so.6"], **search
    )
    write_elf(root / "lib" / "ollama" / "libggml-base.so", ["libc.so.6"], runpath=["$ORIGIN"])
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "bin" / "ollama").write_bytes(b"\x7fELF placeholder")
    return root


def verdicts(root: Path) -> list[tuple[str, str, str | None, str | None]]:
    return [(link.library, link.needed, link.found, link.via) for link in audit_runtime_links(root)]


def test_origin_runpath_and_shipped_runtime_pass(tmp_path: Path) -> None:
    root = install(tmp_path, runpath=["$ORIGIN"])
    ship_runtime(root / CUDA)
    origin = "RUNPATH $ORIGIN"
    cublas, ggml = f"{CUDA}/libcublas.so.12", f"{CUDA}/libggml-cuda.so"
    assert verdicts(root) == [
        (cublas, "libcublasLt.so.12", f"{CUDA}/libcublasLt.so.12", origin),
        (ggml, "libcudart.so.12", f"{CUDA}/libcudart.so.12", origin),
        (ggml, "libcublas.so.12", cublas, origin),
    ]


def test_runtime_beside_the_library_passes_without_a_search_path(tmp_path: Path) -> None:
    # What CMake installs for G3/G4: no RUNPATH; Ollama puts the directory on the library path.
    root = install(tmp_path)
    ship_runtime(root / CUDA)
    assert [via for *_, via in verdicts(root)] == ["RUNPATH $ORIGIN", "beside it", "beside it"]


def test_origin_relative_parent_directory_is_inside(tmp_path: Path) -> None:
    root = install(tmp_path, runpath=["${ORIGIN}/.."])
    ship_runtime(root / "lib" / "ollama")
    found = {needed: (where, via) for _, needed, where, via in verdicts(root)}
    assert found["libcudart.so.12"] == ("lib/ollama/libcudart.so.12", "RUNPATH ${ORIGIN}/..")


def test_runtime_not_shipped_fails_naming_library_and_runtime(tmp_path: Path) -> None:
    root = install(tmp_path, runpath=["$ORIGIN"])
    with pytest.raises(AuditError) as error:
        audit_runtime_links(root)
    assert error.value.exit_code == 7
    message = str(error.value)
    assert (
        f"{CUDA}/libggml-cuda.so: needs libcudart.so.12, which the package does not ship" in message
    )
    assert "libcublas.so.12" in message
    assert "would take it from the system" in message


@pytest.mark.parametrize(
    ("search", "entry"),
    [
        ({"rpath": ["/usr/local/cuda/lib64", "$ORIGIN"]}, "/usr/local/cuda/lib64"),
        ({"runpath": ["/home/builder/.cache/cuda/lib"]}, "/home/builder/.cache/cuda/lib"),
        ({"runpath": ["$ORIGIN/../../../.."]}, "$ORIGIN/../../../.."),
        ({"runpath": ["lib64"]}, "lib64"),
        ({"runpath": ["$ORIGIN/$LIB"]}, "$ORIGIN/$LIB"),
    ],
)
def test_a_search_path_outside_the_package_fails_even_with_the_runtime_shipped(
    tmp_path: Path, search: dict[str, list[str]], entry: str
) -> None:
    root = install(tmp_path, **search)
    ship_runtime(root / CUDA)
    with pytest.raises(AuditError, match="from outside the package") as error:
        audit_runtime_links(root)
    assert f"entry {entry!r} lies outside the package" in str(error.value)


def test_a_runtime_link_pointing_out_of_the_package_is_not_shipped(tmp_path: Path) -> None:
    root = install(tmp_path / "package", runpath=["$ORIGIN"])
    ship_runtime(root / CUDA)
    outside = write_elf(tmp_path / "system" / "libcudart.so.12", ["libc.so.6"])
    (root / CUDA / "libcudart.so.12").unlink()
    (root / CUDA / "libcudart.so.12").symlink_to(outside)
    with pytest.raises(AuditError, match=r"needs libcudart\.so\.12, which the package does not"):
        audit_runtime_links(root)


def test_inspect_reports_each_runtime_link_and_warns_about_an_outside_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = install(tmp_path / "good", runpath=["$ORIGIN"])
    ship_runtime(good / CUDA)
    assert main(["inspect", str(good), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(x["needed"], x["found"], x["problem"]) for x in data["runtime_links"]] == [
        ("libcudart.so.12", f"{CUDA}/libcudart.so.12", None),
        ("libcublas.so.12", f"{CUDA}/libcublas.so.12", None),
    ]
    assert not any("CUDA runtime" in w or "outside" in w for w in data["warnings"])

    bad = install(tmp_path / "bad", rpath=["/usr/local/cuda/lib64"])
    ship_runtime(bad / CUDA)
    assert main(["inspect", str(bad)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "CUDA runtime" in err  # the table
    assert "entry '/usr/local/cuda/lib64' lies outside the package" in err


# --- the resolver's properties ---------------------------------------------------------------

SEGMENT = st.sampled_from(
    ["$ORIGIN", "${ORIGIN}", "..", ".", "cuda_v12", "lib", "/usr/lib", "$LIB"]
)
ENTRY = st.lists(SEGMENT, min_size=1, max_size=5).map("/".join)
PLACES = [CUDA, "lib/ollama", ".", "lib"]
SHIPPED = st.sets(st.sampled_from([posixpath.join(p, "libcudart.so.12") for p in PLACES]))


@given(entries=st.lists(ENTRY, max_size=4), shipped=SHIPPED, runpath=st.booleans())
def test_a_resolved_runtime_is_shipped_and_reached_only_through_the_package(
    entries: list[str], shipped: set[str], runpath: bool
) -> None:
    info = DynamicInfo(
        needed=("libcudart.so.12",),
        rpath=() if runpath else tuple(entries),
        runpath=tuple(entries) if runpath else (),
    )
    (link,) = runtime_links(f"{CUDA}/libggml-cuda.so", info, shipped.__contains__)
    assert (link.found is None) == (link.problem is not None)
    if link.found is not None:
        assert link.found in shipped
        assert not posixpath.normpath(link.found).startswith("..")
    if entries and not entries[0].startswith(("$ORIGIN", "${ORIGIN}")):
        assert link.problem is not None  # the first place searched is not the package


@given(
    cuts=st.lists(st.tuples(st.integers(0, 479), st.integers(0, 255)), max_size=8),
    length=st.integers(0, 480),
)
def test_a_damaged_dynamic_table_is_unreadable_never_a_crash(
    tmp_path_factory: pytest.TempPathFactory, cuts: list[tuple[int, int]], length: int
) -> None:
    data = bytearray(elf_bytes(["libcudart.so.12"], runpath=["$ORIGIN"]))
    for offset, value in cuts:
        if offset < len(data):
            data[offset] = value
    path = tmp_path_factory.mktemp("elf") / "libggml-cuda.so"
    path.write_bytes(bytes(data[:length]))
    outcome: DynamicInfo | UnreadableArtifactError
    try:
        outcome = read_dynamic(path)
    except UnreadableArtifactError as error:  # the one way a damaged file may fail
        outcome = error
    if isinstance(outcome, UnreadableArtifactError):
        assert outcome.exit_code == 8
    else:
        assert all(isinstance(name, str) for name in outcome.needed)
