"""The nvcc launcher that keeps PIDs and work-directory paths out of CUDA objects.

The preloaded library is judged by what a real program receives as its arguments (``echo``
prints them); the launcher script by running it; the planning by the reasons it gives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from build_tools.runner import Runner
from build_tools.toolkit.model import Toolkit
from build_tools.toolkit.pathmap import (
    MAP_VARIABLE,
    NvccLauncher,
    install_nvcc_launcher,
    is_dynamic_elf,
    no_aslr_command,
    plan_nvcc_launcher,
    prefix_map_flags,
    relative_forms,
)

ECHO = shutil.which("echo", path="/usr/bin:/bin")
CC = shutil.which("cc") or shutil.which("gcc")


def launcher_in(directory: Path, *maps: tuple[str, str]) -> NvccLauncher:
    assert CC is not None
    return NvccLauncher(
        directory=directory, compiler=Path(CC), maps=tuple((Path(a), b) for a, b in maps)
    )


@pytest.fixture
def built(tmp_path: Path) -> NvccLauncher:
    if CC is None or ECHO is None:
        pytest.skip("needs a C compiler (apt-get install gcc) and /bin/echo")
    launcher = launcher_in(
        tmp_path / "it's",  # a quote in the path: the script must quote it
        ("/work/x/sources/ollama", "."),
        ("/work/x", "w"),
    )
    install_nvcc_launcher(launcher, Runner(echo=False))
    return launcher


def echo_through(launcher: NvccLauncher, *args: str) -> list[str]:
    """What a program started by the launcher receives (launcher flags appended)."""
    assert ECHO is not None
    result = subprocess.run(
        [str(launcher.script), ECHO, *args], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


@pytest.mark.toolchain  # builds the library with the machine's C compiler
def test_source_path_is_mapped_longest_prefix_first(built: NvccLauncher) -> None:
    words = echo_through(
        built, "--orig_src_path_name", "/work/x/sources/ollama/ml/k.cu", "--orig_src_path_name"
    )
    assert words[:3] == ["--orig_src_path_name", "./ml/k.cu", "--orig_src_path_name"]
    # The launcher appends -objtemp and the host prefix maps, the longest prefix last.
    assert words[3:] == [
        "-objtemp",
        "-Xcompiler",
        "-ffile-prefix-map=/work/x=w",
        "-Xcompiler",
        "-ffile-prefix-map=/work/x/sources/ollama=.",
    ]


@pytest.mark.toolchain  # builds the library with the machine's C compiler
@pytest.mark.parametrize(
    ("path", "seen"),
    [
        ("/work/x/k.cu", "w/k.cu"),
        ("/work/xy/k.cu", "/work/xy/k.cu"),  # only whole path components
        ("/elsewhere/k.cu", "/elsewhere/k.cu"),
        ("/work/x", "w"),
    ],
)
def test_only_whole_prefixes_are_mapped(built: NvccLauncher, path: str, seen: str) -> None:
    assert echo_through(built, "--orig_src_path_name", path)[1] == seen


@pytest.mark.toolchain  # builds the library with the machine's C compiler
def test_other_arguments_are_left_alone(built: NvccLauncher) -> None:
    assert echo_through(built, "/work/x/k.cu", "--orig_src_file_name", "/work/x/k.cu")[:3] == [
        "/work/x/k.cu",
        "--orig_src_file_name",
        "/work/x/k.cu",
    ]


@pytest.mark.toolchain  # builds the library with the machine's C compiler
def test_script_keeps_an_existing_preload_and_sets_the_map(built: NvccLauncher) -> None:
    show = f'echo "$LD_PRELOAD"; echo "${MAP_VARIABLE}"'
    result = subprocess.run(
        [str(built.script), "/bin/sh", "-c", show],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LD_PRELOAD": "/other.so"},
    )
    assert result.stdout.splitlines() == [
        f"{built.library}:/other.so",
        "/work/x/sources/ollama=.:/work/x=w",
    ]


ADDR_NO_RANDOMIZE = 0x0040000  # <linux/personality.h>


def personality_through(launcher: NvccLauncher) -> int:
    """The personality of a program the launcher starts, as /proc says."""
    result = subprocess.run(
        [str(launcher.script), "/bin/sh", "-c", "cat /proc/self/personality"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip(), 16)


@pytest.mark.toolchain  # builds the library with the machine's C compiler
def test_nvcc_runs_without_address_randomisation_where_the_machine_allows_it(
    tmp_path: Path,
) -> None:
    # cicc's PTX for some kernels follows its allocation addresses (docs/build-notes.md).
    if CC is None:
        pytest.skip("needs a C compiler (apt-get install gcc)")
    command = no_aslr_command(Runner())
    if not command:
        pytest.skip("this machine refuses setarch -R (or has no setarch)")
    fixed = NvccLauncher(directory=tmp_path / "fixed", compiler=Path(CC), maps=(), no_aslr=command)
    plain = NvccLauncher(directory=tmp_path / "plain", compiler=Path(CC), maps=())
    for launcher in (fixed, plain):
        install_nvcc_launcher(launcher, Runner(echo=False))
    assert personality_through(fixed) & ADDR_NO_RANDOMIZE
    assert not personality_through(plain) & ADDR_NO_RANDOMIZE


def test_a_machine_that_refuses_setarch_gets_a_launcher_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a container whose seccomp profile refuses the personality call.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    refusing = bin_dir / "setarch"
    refusing.write_text("#!/bin/sh\necho 'setarch: failed to set personality' >&2\nexit 1\n")
    refusing.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert no_aslr_command(Runner()) == ()
    assert ECHO is not None
    toolkit = fake_toolkit(tmp_path / "cuda", "--objdir-as-tempdir (-objtemp)", programs=Path(ECHO))
    launcher, record = plan_nvcc_launcher(
        toolkit, tmp_path / "l", [(tmp_path / "src", ".")], Path("/cc"), Runner()
    )
    assert launcher is not None
    assert launcher.no_aslr == ()
    assert record.to_json()["no_aslr"] is False
    assert "setarch" not in launcher.script_text()
    monkeypatch.setenv("PATH", "/nonexistent")
    assert no_aslr_command(Runner()) == ()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    if CC is None:
        pytest.skip("needs a C compiler")
    launcher = launcher_in(tmp_path / "l", ("/a", "."))
    install_nvcc_launcher(launcher, Runner(dry_run=True, echo=False))
    assert not (tmp_path / "l").exists()


def test_dynamic_elf() -> None:
    assert ECHO is not None
    assert is_dynamic_elf(Path(ECHO))


def test_not_dynamic_elf(tmp_path: Path) -> None:
    script = tmp_path / "cudafe++"
    script.write_text("#!/bin/sh\n")
    assert not is_dynamic_elf(script)
    assert not is_dynamic_elf(tmp_path / "missing")
    assert not is_dynamic_elf(tmp_path)


@given(st.binary(max_size=512))
def test_is_dynamic_elf_never_fails_on_any_bytes(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile() as handle:
        handle.write(b"\x7fELF\x02\x01" + data)
        handle.flush()
        is_dynamic_elf(Path(handle.name))  # True or False, never an exception


def fake_toolkit(root: Path, help_text: str, *, programs: Path | None) -> Toolkit:
    (root / "bin").mkdir(parents=True)
    (root / "nvvm" / "bin").mkdir(parents=True)
    nvcc = root / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho '{help_text}'\n")
    nvcc.chmod(0o755)
    if programs is not None:
        shutil.copy(programs, root / "bin" / "cudafe++")
        shutil.copy(programs, root / "nvvm" / "bin" / "cicc")
    return Toolkit(
        version="12.4",
        full_version="12.4.131",
        provider="system",
        root=root,
        nvcc=nvcc,
        sass_archs=("86",),
        ptx_archs=("86",),
    )


def test_planned_with_a_capable_toolkit(tmp_path: Path) -> None:
    assert ECHO is not None
    toolkit = fake_toolkit(tmp_path / "cuda", "--objdir-as-tempdir (-objtemp)", programs=Path(ECHO))
    maps = [(tmp_path / "src", "."), (tmp_path / "src" / "deeper", "d")]
    launcher, record = plan_nvcc_launcher(toolkit, tmp_path / "l", maps, Path("/cc"), Runner())
    assert launcher is not None
    assert [new for _, new in launcher.maps] == ["d", "."]
    # Without a work directory to bind at a canonical path, the PTX can still follow it.
    assert not record.path_independent
    assert record.reason is not None
    assert "path length" in record.reason or "length of the work directory" in record.reason
    assert record.canonical_path is None


@pytest.mark.parametrize(
    ("help_text", "programs", "maps", "reason"),
    [
        ("no such option", "echo", [("/src", ".")], "has no -objtemp"),
        ("--objdir-as-tempdir", None, [("/src", ".")], "not a dynamically linked program"),
        ("--objdir-as-tempdir", "echo", [("/my src", ".")], "holds a space"),
        ("--objdir-as-tempdir", "echo", [("/a:b", ".")], "holds a space or one of ':'"),
        ("--objdir-as-tempdir", "echo", [("relative", ".")], "is not absolute"),
    ],
)
def test_reasons_when_not_path_independent(
    tmp_path: Path, help_text: str, programs: str | None, maps: list[tuple[str, str]], reason: str
) -> None:
    assert ECHO is not None
    toolkit = fake_toolkit(
        tmp_path / "cuda", help_text, programs=None if programs is None else Path(ECHO)
    )
    paths = [(Path(a), b) for a, b in maps]
    launcher, record = plan_nvcc_launcher(toolkit, tmp_path / "l", paths, Path("/cc"), Runner())
    assert launcher is None
    assert not record.path_independent
    assert record.reason is not None
    assert reason in record.reason
    assert record.to_json() == {
        "path_independent": False,
        "method": None,
        "reason": record.reason,
        "no_aslr": False,
        "canonical_path": None,
    }


def test_sccache_gets_no_launcher_and_the_reason_names_it(tmp_path: Path) -> None:
    # A toolkit the launcher would serve: only the compiler cache stands in the way.
    assert ECHO is not None
    toolkit = fake_toolkit(tmp_path / "cuda", "--objdir-as-tempdir (-objtemp)", programs=Path(ECHO))
    maps = [(tmp_path / "src", ".")]
    launcher, record = plan_nvcc_launcher(
        toolkit, tmp_path / "l", maps, Path("/cc"), Runner(), sccache=True
    )
    assert launcher is None
    assert not record.path_independent
    assert record.reason is not None
    assert "--compiler-cache ccache or none" in record.reason


# --- the relative forms ccache hands the compiler ---------------------------------------------

_NAMES = st.text(alphabet="abcdefgh-_0123456789", min_size=1, max_size=6).filter(
    lambda name: name not in {".", ".."}
)
_PARTS = st.lists(_NAMES, min_size=0, max_size=4)


@given(root=_PARTS, directory=_PARTS)
def test_a_relative_form_names_the_root_from_its_compile_directory(
    root: list[str], directory: list[str]
) -> None:
    base = Path("/w/work")
    root_path, compile_dir = base.joinpath("sources", *root), base.joinpath("build", *directory)
    forms = relative_forms(root_path, base, [compile_dir])
    assert len(forms) == 1
    (form,) = forms
    assert form.startswith("..")  # never "." or a bare name that would match other paths
    assert Path(os.path.normpath(compile_dir / form)) == root_path


def test_no_relative_form_outside_the_base_or_from_inside_the_root() -> None:
    base = Path("/w/work")
    # ccache leaves a path outside its base dir absolute: the absolute map covers it.
    assert relative_forms(Path("/elsewhere/llama.cpp"), base, [base / "build" / "cpu"]) == ()
    assert relative_forms(base / "src", base, [Path("/tmp/build")]) == ()
    # A compile directory inside the root sees paths without the root in them.
    assert relative_forms(base / "build", base, [base / "build" / "x" / "cpu"]) == ()
    # Two compile directories at one depth give one form.
    dirs = [base / "build" / "s" / "cpu", base / "build" / "s" / "cuda_v12"]
    assert relative_forms(base / "sources" / "s", base, dirs) == ("../../../sources/s",)


def test_prefix_flags_put_the_longest_prefix_last() -> None:
    flags = prefix_map_flags([("/w/s", "."), ("../../../sources/s", "."), ("/w", "w")])
    assert flags == (
        "-ffile-prefix-map=/w=w",
        "-ffile-prefix-map=/w/s=.",
        "-ffile-prefix-map=../../../sources/s=.",
    )


@pytest.mark.toolchain  # compiles with the machine's C compiler
def test_the_compiler_embeds_the_same_file_name_for_the_absolute_and_the_relative_path(
    tmp_path: Path,
) -> None:
    """What ccache does to a compile under its base dir (hands the compiler a path relative to
    the directory it compiles in), done by hand: with the flags of a plan, both give ./a.c."""
    if CC is None:
        pytest.skip("needs a C compiler (apt-get install gcc)")
    source = tmp_path / "work" / "sources" / "s"
    compile_dir = tmp_path / "work" / "build" / "s" / "cpu"
    source.mkdir(parents=True)
    compile_dir.mkdir(parents=True)
    (source / "a.c").write_text("const char *f(void) { return __FILE__; }\n")
    maps = [
        (str(source), "."),
        *((f, ".") for f in relative_forms(source, tmp_path / "work", [compile_dir])),
    ]
    seen = []
    for given_path in (str(source / "a.c"), os.path.relpath(source / "a.c", compile_dir)):
        out = compile_dir / "a.o"
        subprocess.run(
            [CC, *prefix_map_flags(maps), "-c", given_path, "-o", str(out)],
            cwd=compile_dir,
            check=True,
        )
        data = out.read_bytes()
        seen.append((b"./a.c\0" in data, b"sources/s/a.c" in data))
    assert seen == [(True, False), (True, False)]
