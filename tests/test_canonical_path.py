"""nvcc sees the work directory at one canonical path (build_tools/toolkit/canonical.py).

cicc's PTX for some kernels follows the lengths of the paths it is given, so two builds in
work directories under different parents must hand nvcc the same bytes. These tests run a
stand-in compiler (a shell script) through the real launcher, in a real mount namespace, and
judge what it saw and what it left behind for Ninja and the user.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from build_tools.runner import Runner
from build_tools.toolkit.canonical import depfile_of, replace_prefix
from build_tools.toolkit.model import Toolkit
from build_tools.toolkit.pathmap import (
    CanonicalPath,
    NvccLauncher,
    canonical_path,
    install_nvcc_launcher,
    plan_nvcc_launcher,
)

from programs import namespaces_allowed

CC = shutil.which("cc") or shutil.which("gcc")
ECHO = shutil.which("echo", path="/usr/bin:/bin")

# The stand-in for nvcc: it records what it sees into a file under its working directory
# (nothing rewrites that file), writes a dependency file naming its source and a header by
# their absolute paths as nvcc does, and reports the source on stderr as a diagnostic would.
COMPILER = """#!/bin/sh
source=$1 depfile=$3  # called as: COMPILER SOURCE -MF DEPFILE
{ pwd; printf '%s\\n' "$@"; echo "$BUILD_TOOLS_NVCC_PATH_MAP"; } > seen.txt
printf 'x.o: %s \\\\\\n  %s/include/h.cuh\\n' "$source" "$(pwd)" > "$depfile"
echo "$source:1: warning: a diagnostic" >&2
"""


needs_namespaces = pytest.mark.skipif(
    not namespaces_allowed(), reason="this machine refuses unprivileged mount namespaces"
)


def toolkit_at(root: Path) -> Toolkit:
    root.mkdir(parents=True, exist_ok=True)
    return Toolkit(
        version="12.4",
        full_version="12.4.131",
        provider="system",
        root=root,
        nvcc=root / "bin" / "nvcc",
        sass_archs=("86",),
        ptx_archs=("86",),
    )


def work_tree(work: Path) -> Path:
    """A work directory with a source and a build directory; returns the build directory."""
    (work / "sources" / "s").mkdir(parents=True)
    (work / "sources" / "s" / "k.cu").write_text("__global__ void k() {}\n")
    build = work / "build" / "s"
    (build / "include").mkdir(parents=True)
    return build


def launcher_for(work: Path, canonical: Path, tmp_path: Path) -> NvccLauncher:
    assert CC is not None
    planned, reason = canonical_path(
        toolkit_at(tmp_path / "cuda"), work, canonical, [work / "sources" / "s"], Runner()
    )
    assert planned is not None, reason
    launcher = NvccLauncher(
        directory=work / "build" / "s" / "nvcc-launcher",
        compiler=Path(CC),
        maps=((work / "sources" / "s", "."), (work / "build" / "s", "build")),
        canonical=planned,
    )
    install_nvcc_launcher(launcher, Runner(echo=False))
    return launcher


def compile_through(
    launcher: NvccLauncher, work: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    compiler = tmp_path / "fake-nvcc"
    compiler.write_text(COMPILER)
    compiler.chmod(0o755)
    build = work / "build" / "s"
    source = work / "sources" / "s" / "k.cu"
    return subprocess.run(
        [str(launcher.script), str(compiler), str(source), "-MF", "obj/k.cu.o.d"],
        cwd=build,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.mark.toolchain  # builds the launcher's preloaded library with the machine's C compiler
@needs_namespaces
def test_two_work_directories_hand_the_compiler_the_same_bytes(tmp_path: Path) -> None:
    if CC is None:
        pytest.skip("needs a C compiler (apt-get install gcc)")
    canonical = tmp_path / "cache" / "canonical"
    # Under different parents and of different lengths, as verify-reproducible places them.
    works = [tmp_path / "a", tmp_path / "elsewhere" / "deeper" / "b"]
    seen = []
    for work in works:
        build = work_tree(work)
        (build / "obj").mkdir()
        compile_through(launcher_for(work, canonical, tmp_path), work, tmp_path)
        seen.append((build / "seen.txt").read_text())
    assert seen[0] == seen[1]
    lines = seen[0].splitlines()
    assert lines[0] == f"{canonical}/build/s"  # the working directory
    assert lines[1] == f"{canonical}/sources/s/k.cu"  # the source argument
    assert str(tmp_path / "a") not in seen[0]
    # The path map of the preloaded library names the canonical roots as well.
    assert f"{canonical}/sources/s=." in lines[-1]
    # The mount point stays an empty directory outside the namespaces.
    assert list(canonical.iterdir()) == []


@pytest.mark.toolchain  # builds the launcher's preloaded library with the machine's C compiler
@needs_namespaces
def test_what_ninja_and_the_user_read_names_the_real_paths(tmp_path: Path) -> None:
    if CC is None:
        pytest.skip("needs a C compiler (apt-get install gcc)")
    work = tmp_path / "work"
    build = work_tree(work)
    (build / "obj").mkdir()
    result = compile_through(launcher_for(work, tmp_path / "canonical", tmp_path), work, tmp_path)
    # Ninja reads the dependency file after the command: its paths must exist out here, or
    # every object is rebuilt on every run.
    depfile = (build / "obj" / "k.cu.o.d").read_text()
    assert f"{work}/sources/s/k.cu" in depfile
    assert f"{build}/include/h.cuh" in depfile
    assert "canonical" not in depfile
    assert result.stderr == f"{work}/sources/s/k.cu:1: warning: a diagnostic\n"


@pytest.mark.toolchain
@needs_namespaces
def test_the_compiler_status_comes_back(tmp_path: Path) -> None:
    if CC is None:
        pytest.skip("needs a C compiler (apt-get install gcc)")
    work = tmp_path / "work"
    build = work_tree(work)
    launcher = launcher_for(work, tmp_path / "canonical", tmp_path)
    failing = subprocess.run(
        [str(launcher.script), "/bin/sh", "-c", "echo no >&2; exit 3"],
        cwd=build,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failing.returncode == 3
    assert failing.stderr == "no\n"


def test_a_machine_that_refuses_namespaces_is_not_path_independent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a container whose seccomp profile refuses unshare(CLONE_NEWUSER).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {
        "unshare": "echo 'unshare: unshare failed: Operation not permitted' >&2; exit 1",
        "mount": "exit 0",
        "setarch": "exit 1",
    }.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{text}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert ECHO is not None
    toolkit = toolkit_at(tmp_path / "cuda")
    (toolkit.root / "bin").mkdir()
    toolkit.nvcc.write_text("#!/bin/sh\necho '--objdir-as-tempdir (-objtemp)'\n")
    toolkit.nvcc.chmod(0o755)
    (toolkit.root / "nvvm" / "bin").mkdir(parents=True)
    shutil.copy(ECHO, toolkit.root / "bin" / "cudafe++")
    shutil.copy(ECHO, toolkit.root / "nvvm" / "bin" / "cicc")
    work = tmp_path / "work"
    launcher, record = plan_nvcc_launcher(
        toolkit,
        work / "l",
        [(work / "src", ".")],
        Path("/cc"),
        Runner(),
        canonical=(work, tmp_path / "canonical"),
    )
    # The launcher still keeps PIDs and internal-linkage hashes out; the record says the rest.
    assert launcher is not None
    assert launcher.canonical is None
    assert "unshare" not in launcher.script_text()
    assert not record.path_independent
    assert record.reason is not None
    assert "Operation not permitted" in record.reason
    assert record.to_json()["canonical_path"] is None


@pytest.mark.parametrize(
    ("work", "canonical", "roots", "reason"),
    [
        ("/w", "/c", ["/elsewhere/src"], "lies outside the work directory"),
        ("/w", "/w/c", ["/w/src"], "inside one another"),
        ("/c/w", "/c", ["/c/w/src"], "inside one another"),
        ("/w", "/c d", ["/w/src"], "holds a space"),
    ],
)
def test_reasons_a_canonical_path_cannot_be_used(
    tmp_path: Path, work: str, canonical: str, roots: list[str], reason: str
) -> None:
    planned, why = canonical_path(
        toolkit_at(tmp_path / "cuda"), Path(work), Path(canonical), map(Path, roots), Runner()
    )
    assert planned is None
    assert why is not None
    assert reason in why


def test_the_launcher_command_runs_the_helper_in_a_namespace() -> None:
    planned = CanonicalPath(
        work=Path("/w"), directory=Path("/c"), unshare="/u", mount="/m", python="/p"
    )
    assert planned.command(Path("/l/canonical.py")) == (
        *("/u", "-rm", "--", "/p", "-I", "-S", "/l/canonical.py", "/m", "/w", "/c", "--"),
    )


# --- the rewriting, for any text ------------------------------------------------------------

_COMPONENT = st.text(alphabet="abcxyz._-0123", min_size=1, max_size=5).filter(
    lambda name: name not in {".", ".."}
)
_DIRECTORY = st.lists(_COMPONENT, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
_TEXT = st.text(alphabet="/abcxyz._-= :\n\\0123", max_size=60)


@given(work=_DIRECTORY, pieces=st.lists(st.one_of(_TEXT, st.just("<W>")), max_size=8))
def test_paths_go_in_and_come_back_unchanged(work: str, pieces: list[str]) -> None:
    canonical = "/canonical-Q"  # holds a letter no generated text does
    text = "".join(work if piece == "<W>" else piece for piece in pieces)
    inside = replace_prefix(text, work, canonical)
    assert replace_prefix(inside, canonical, work) == text
    assert replace_prefix(inside, work, canonical) == inside  # nothing of the work dir is left


@given(work=_DIRECTORY, rest=_COMPONENT)
def test_only_whole_components_are_replaced(work: str, rest: str) -> None:
    assume(work not in f"/{rest}")  # a later component that spells the work dir is one, too
    assert replace_prefix(f"-I{work}/{rest}", work, "/c") == f"-I/c/{rest}"
    assert replace_prefix(f"{work}{rest}", work, "/c") == f"{work}{rest}"
    assert replace_prefix(f"{work}=x", work, "/c") == "/c=x"


@given(st.lists(st.text(max_size=12), max_size=8))
def test_depfile_of_never_fails(words: list[str]) -> None:
    found = depfile_of(words)
    assert found is None or any(found in word for word in words)


@pytest.mark.parametrize(
    ("words", "found"),
    [
        (["-MD", "-MT", "x.o", "-MF", "x.o.d", "-c", "x.cu"], "x.o.d"),
        (["-MFx.o.d"], "x.o.d"),
        (["--dependency-output=x.o.d"], "x.o.d"),
        (["--dependency-output", "x.o.d"], "x.o.d"),
        (["-MF"], None),
        (["-c", "x.cu", "-o", "x.o"], None),
    ],
)
def test_depfile_of_the_forms_nvcc_takes(words: list[str], found: str | None) -> None:
    assert depfile_of(words) == found
