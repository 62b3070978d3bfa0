"""Pure parts of build_tools.toolkit: parsing, layout, stub, cache bookkeeping. No network."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from build_tools.errors import ConfigurationError, ToolkitError
from build_tools.pipeline.inputs import toolkit_request
from build_tools.runner import Runner
from build_tools.settings.commands import PlanSettings
from build_tools.toolkit import (
    Toolkit,
    ToolkitCache,
    default_provider,
    elf_needed,
    list_installed,
    normalize_cuda_version,
    resolve_toolkit,
)
from build_tools.toolkit.apt import (
    MIRROR_ENV,
    PrivateApt,
    find_debian_mirror,
    parse_deb822,
    parse_one_line,
)
from build_tools.toolkit.cache import MANIFEST
from build_tools.toolkit.debfile import extract_members
from build_tools.toolkit.debian import deb_filename
from build_tools.toolkit.hostcc import check_host_compiler, parse_host_config
from build_tools.toolkit.layout import (
    link_unversioned_libraries,
    nvcc_profile_text,
    write_nvcc_profile,
)
from build_tools.toolkit.nvcc import parse_arch_list, parse_nvcc_version
from build_tools.toolkit.pypi import missing_compiler_parts
from build_tools.toolkit.request import ToolkitRequest
from build_tools.toolkit.stub import build_libcuda_stub, driver_symbols, stub_source
from build_tools.toolkit.wheels import extract_wheel, find_wheel

from plan_values import make_toolkit
from settings_values import resolved

# A host name under the reserved .invalid TLD: parsing must not depend on any real mirror.
MIRROR = "http://debian-mirror.invalid/debian"

NVCC_124 = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2024 NVIDIA Corporation
Built on Thu_Mar_28_02:18:24_PDT_2024
Cuda compilation tools, release 12.4, V12.4.131
Build cuda_12.4.r12.4/compiler.34097967_0
"""
NVCC_130 = "Cuda compilation tools, release 13.0, V13.0.88\nBuild cuda_13.0.r13.0/compiler\n"


# -- nvcc output -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [(NVCC_124, ("12.4", "12.4.131")), (NVCC_130, ("13.0", "13.0.88"))]
)
def test_parse_nvcc_version(text: str, expected: tuple[str, str]) -> None:
    assert parse_nvcc_version(text) == expected


def test_parse_nvcc_version_rejects_other_output() -> None:
    with pytest.raises(ToolkitError, match="cannot read the CUDA version"):
        parse_nvcc_version("bash: nvcc: command not found")


def test_parse_arch_lists_strip_prefix_sort_numerically_and_dedupe() -> None:
    code = "sm_75\nsm_80\nsm_86\nsm_100\nsm_110\nsm_103\nsm_120\nsm_86\n"
    arch = "compute_75 compute_100 compute_90\n"
    assert parse_arch_list(code, "sm_") == ("75", "80", "86", "100", "103", "110", "120")
    assert parse_arch_list(arch, "compute_") == ("75", "90", "100")
    # The other list's prefix and stray words are not archs.
    assert parse_arch_list(arch + "sm_50 warning: x", "sm_") == ("50",)


# -- nvcc.profile and layout -------------------------------------------------------------------


@pytest.mark.parametrize("cccl", [None, "cccl"])
def test_profile_is_relative_to_nvcc(cccl: str | None) -> None:
    text = nvcc_profile_text(cccl_subdir=cccl)
    assert text.splitlines()[0] == "TOP              = $(_HERE_)/.."
    for line in text.splitlines():
        # Every path hangs off TOP/_HERE_, so the root can be renamed after staging.
        assert '"/' not in line, line
        assert "= /" not in line, line
    assert '"-I$(TOP)/include"' in text
    assert '"-L$(TOP)/lib64/stubs" "-L$(TOP)/lib64"' in text
    assert "NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice" in text
    assert ('"$(TOP)/include/cccl"' in text) == (cccl == "cccl")


def test_write_profile_replaces_a_symlink_to_etc(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    profile = tmp_path / "bin" / "nvcc.profile"
    profile.symlink_to("/etc/nvcc.profile")  # what Debian's package ships
    write_nvcc_profile(tmp_path, cccl_subdir=None)
    assert not profile.is_symlink()
    assert profile.read_text(encoding="utf-8") == nvcc_profile_text(cccl_subdir=None)


def test_unversioned_links_point_at_the_soname(tmp_path: Path) -> None:
    for name in ("libcudart.so.13", "libcublas.so.12.4.5.8", "libcublasLt.so.12.4.5.8"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "libcublas.so.12").symlink_to("libcublas.so.12.4.5.8")
    (tmp_path / "libcublasLt.so").write_bytes(b"existing")
    added = link_unversioned_libraries(tmp_path)
    assert added == ["libcublas.so", "libcudart.so"]
    assert (tmp_path / "libcudart.so").readlink() == Path("libcudart.so.13")
    assert (tmp_path / "libcublas.so").readlink() == Path("libcublas.so.12")
    assert (tmp_path / "libcublasLt.so").read_bytes() == b"existing"


# -- libcuda stub ------------------------------------------------------------------------------


def test_driver_symbols_and_stub_source() -> None:
    text = "CUresult cuInit(unsigned int Flags);\nCUresult cuMemAlloc_v2 (void **p);\n"
    text += "typedef struct CUctx_st *CUcontext; int cudaNotDriver(void); int x = cuda(1);"
    assert driver_symbols([text, "CUresult cuInit(unsigned int);"]) == ["cuInit", "cuMemAlloc_v2"]
    source = stub_source(["cuInit"])
    assert "int cuInit(void) { return 999; }" in source


def _dynamic(path: Path) -> tuple[str | None, set[str]]:
    """(DT_SONAME, exported function names) of a shared object."""
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        soname = None
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_SONAME":
                        soname = str(tag.soname)  # type: ignore[attr-defined]
        dynsym = elf.get_section_by_name(".dynsym")
        assert isinstance(dynsym, SymbolTableSection)
        names = {sym.name for sym in dynsym.iter_symbols() if sym["st_shndx"] != "SHN_UNDEF"}
    return soname, names


SMALL_CUDA_H = """\
#pragma once
typedef int CUresult;
#define cuMemAlloc cuMemAlloc_v2
#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
#define cuMemcpy cuMemcpy_ptds
#endif
#if defined(__CUDA_API_VERSION_INTERNAL)
#undef cuMemAlloc
#endif
CUresult cuInit(unsigned int flags);
CUresult cuMemAlloc(void **ptr, unsigned long size);
CUresult cuMemcpy(void *dst, const void *src, unsigned long size);
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_stub_exports_every_variant_and_stays_needed(tmp_path: Path) -> None:
    include = tmp_path / "include"
    include.mkdir()
    fillers = "".join(f"CUresult cuFiller{i}(int x);\n" for i in range(60))
    (include / "cuda.h").write_text(SMALL_CUDA_H + fillers, encoding="utf-8")
    stub = tmp_path / "lib64" / "stubs" / "libcuda.so"
    count = build_libcuda_stub(include, stub, Runner(echo=False))
    soname, exported = _dynamic(stub)
    assert soname == "libcuda.so.1"
    assert {"cuInit", "cuMemAlloc_v2", "cuMemAlloc", "cuMemcpy", "cuMemcpy_ptds"} <= exported
    assert count == 65
    assert "cuFiller59" in exported
    # The point of exporting symbols: with --as-needed, a program that calls the driver API
    # keeps libcuda.so.1 in DT_NEEDED.
    program = tmp_path / "uses_driver.c"
    program.write_text(
        '#include "cuda.h"\nint main(void) { void *p; return cuMemAlloc(&p, 4); }\n',
        encoding="utf-8",
    )
    exe = tmp_path / "uses_driver"
    subprocess.run(
        ["cc", "-Wl,--as-needed", "-I", str(include), "-o", str(exe), str(program),
         "-L", str(stub.parent), "-lcuda"],
        check=True,
    )  # fmt: skip
    assert "libcuda.so.1" in elf_needed(exe)


def test_stub_refuses_a_truncated_header(tmp_path: Path) -> None:
    (tmp_path / "cuda.h").write_text(SMALL_CUDA_H, encoding="utf-8")
    with pytest.raises(ToolkitError, match="only 5 driver functions"):
        build_libcuda_stub(tmp_path, tmp_path / "libcuda.so", Runner(echo=False))
    assert not (tmp_path / "libcuda.so").exists()


# -- host compiler -----------------------------------------------------------------------------

HOST_CONFIG_124 = """\
#if defined(__GNUC__)
#if __GNUC__ > 13
#error -- unsupported GNU version! gcc versions later than 13 are not supported!
#endif /* __GNUC__ > 13 */
#if (__clang_major__ >= 18) || (__clang_major__ < 3) || ((__clang_major__ == 3) &&  (__clang_minor__ < 3))
#error -- unsupported clang version!
#endif
#endif
"""  # noqa: E501


def test_parse_host_config() -> None:
    limits = parse_host_config(HOST_CONFIG_124)
    assert (limits.gcc_max, limits.clang_min, limits.clang_max) == (13, 3, 17)
    assert parse_host_config(HOST_CONFIG_124.replace("> 13", "> 15")).gcc_max == 15
    assert parse_host_config("nothing here").gcc_max is None


def _fake_compiler(directory: Path, macros: str) -> Path:
    """A stand-in for g++ that only answers ``-dM -E`` (the one question asked)."""
    script = directory / "fake-g++"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' '{macros}'\n", encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("macros", "error"),
    [
        ("#define __GNUC__ 14\n#define __GNUC_MINOR__ 2", "supports gcc up to 13"),
        ("#define __GNUC__ 13\n#define __GNUC_MINOR__ 3", None),
        ("#define __GNUC__ 4\n#define __clang__ 1\n#define __clang_major__ 19", "clang 3..17"),
    ],
)
def test_host_compiler_range(tmp_path: Path, macros: str, error: str | None) -> None:
    crt = tmp_path / "root" / "include" / "crt"
    crt.mkdir(parents=True)
    (crt / "host_config.h").write_text(HOST_CONFIG_124, encoding="utf-8")
    cxx = _fake_compiler(tmp_path, macros)
    runner = Runner(echo=False)
    if error is None:
        host = check_host_compiler(tmp_path / "root", "12.4", runner, cxx=str(cxx))
        assert host.label == "gcc 13.3"
        return
    with pytest.raises(ToolkitError, match=error) as caught:
        check_host_compiler(tmp_path / "root", "12.4", runner, cxx=str(cxx))
    assert caught.value.hint is not None
    assert "CUDAHOSTCXX" in caught.value.hint


def test_host_compiler_from_cudahostcxx(tmp_path: Path) -> None:
    crt = tmp_path / "include" / "crt"
    crt.mkdir(parents=True)
    (crt / "host_config.h").write_text(HOST_CONFIG_124, encoding="utf-8")
    cxx = _fake_compiler(tmp_path, "#define __GNUC__ 15")
    with pytest.raises(ToolkitError, match=r"fake-g\+\+ is gcc 15\.0"):
        check_host_compiler(tmp_path, "12.4", Runner(echo=False), environ={"CUDAHOSTCXX": str(cxx)})


# -- apt sources -------------------------------------------------------------------------------

DEB822 = f"""\
Types: deb
# a snapshot comment
URIs: {MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {MIRROR}-security
Suites: bookworm-security
Components: main
"""


def test_parse_sources_formats() -> None:
    entries = parse_deb822(DEB822)
    assert [e.suites for e in entries] == [("bookworm", "bookworm-updates"), ("bookworm-security",)]
    assert entries[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    line = parse_one_line(f"deb [arch=amd64 signed-by=/k.gpg] {MIRROR} trixie main # c\n#x\n")
    assert line[0].uris == (MIRROR,)
    assert line[0].signed_by == "/k.gpg"


def _apt_etc(tmp_path: Path, files: dict[str, str]) -> Path:
    etc = tmp_path / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (etc / name).write_text(text, encoding="utf-8")
    return etc


def test_mirror_comes_from_the_machines_sources(tmp_path: Path) -> None:
    etc = _apt_etc(
        tmp_path,
        {
            "sources.list.d/other.list.disabled-by-admin": f"deb {MIRROR}-other trixie main\n",
            "sources.list.d/vendor.list": "deb https://vendor.invalid/apt stable-vendor main\n",
            "sources.list.d/debian.sources": DEB822,
        },
    )
    mirror, keyring = find_debian_mirror(apt_etc=etc, environ={})
    assert mirror == MIRROR
    assert keyring == Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    override, _ = find_debian_mirror(apt_etc=etc, environ={MIRROR_ENV: MIRROR + "2/"})
    assert override == MIRROR + "2"


def test_no_debian_mirror_names_the_override(tmp_path: Path) -> None:
    etc = _apt_etc(tmp_path, {"sources.list": "deb http://ubuntu.invalid/ubuntu jammy main\n"})
    with pytest.raises(ToolkitError, match="no Debian mirror") as caught:
        find_debian_mirror(apt_etc=etc, environ={})
    assert caught.value.hint is not None
    assert MIRROR_ENV in caught.value.hint


def test_private_apt_config_stays_in_its_directory(tmp_path: Path) -> None:
    apt = PrivateApt(tmp_path / "apt", mirror=MIRROR, keyring=Path("/k.gpg"))
    apt.write()
    sources = (tmp_path / "apt" / "etc" / "sources.list").read_text(encoding="utf-8")
    assert sources == f"deb [signed-by=/k.gpg] {MIRROR} trixie main contrib non-free\n"
    config = apt.config_file.read_text(encoding="utf-8")
    for key in ("Dir::State::Lists", "Dir::State::status", "Dir::Cache", "Dir::Etc::sourcelist"):
        value = next(line for line in config.splitlines() if line.startswith(key + " "))
        assert f'"{tmp_path / "apt"}' in value, value
    assert apt.env() == {"APT_CONFIG": str(apt.config_file)}


def test_deb_filename_escapes_an_epoch() -> None:
    assert deb_filename("libnvvm4=12.4.131~12.4.1-2") == "libnvvm4_12.4.131~12.4.1-2_amd64.deb"
    assert deb_filename("foo=1:2.0-1") == "foo_1%3a2.0-1_amd64.deb"


# -- wheels ------------------------------------------------------------------------------------


def _wheel(path: Path, members: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, (data, mode) in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, data)
    return path


def test_extract_wheel_maps_paths_and_restores_exec_bits(tmp_path: Path) -> None:
    wheel = _wheel(
        tmp_path / "nvidia_x-13.0.0-py3-none-any.whl",
        {
            "nvidia/cu13/bin/nvcc": (b"ELF", 0o744),
            "nvidia/cu13/lib/libx.so.13": (b"lib", 0o644),
            "nvidia/cu13/include/__init__.py": (b"", 0o644),
            "nvidia/cu13/.metadata/sizes": (b"", 0o644),
            "nvidia_x-13.0.0.dist-info/RECORD": (b"", 0o644),
        },
    )
    out = tmp_path / "root"

    def place(rel: str) -> str | None:
        if rel.startswith(".metadata/"):
            return None
        return rel.replace("lib/", "lib64/", 1) if rel.startswith("lib/") else rel

    written = extract_wheel(wheel, out, prefix="nvidia/cu13/", rename=place)
    assert written == 6
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["bin/nvcc", "lib64/libx.so.13"]
    assert os.access(out / "bin" / "nvcc", os.X_OK)
    assert not os.access(out / "lib64" / "libx.so.13", os.X_OK)
    assert find_wheel(tmp_path, "nvidia-x==13.0.0") == wheel
    assert find_wheel(tmp_path, "nvidia-x==13.0.1") is None


def test_extract_wheel_rejects_escaping_paths(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "evil-1-py3-none-any.whl", {"nvidia/x/../../../etc": (b"", 0o644)})
    with pytest.raises(ToolkitError, match="unsafe path"):
        extract_wheel(wheel, tmp_path / "out", prefix="nvidia/x/")


def test_cu12_style_wheel_lacks_the_compiler() -> None:
    cu12 = ["nvidia/cuda_nvcc/bin/ptxas", "nvidia/cuda_nvcc/nvvm/lib64/libnvvm.so"]
    assert missing_compiler_parts(cu12) == [
        "bin/nvcc", "bin/cudafe++", "bin/fatbinary", "bin/nvlink", "nvvm/bin/cicc",
    ]  # fmt: skip
    full = [f"nvidia/cu13/{p}" for p in ("bin/nvcc", "bin/cudafe++", "bin/fatbinary")]
    full += ["nvidia/cu13/bin/nvlink", "nvidia/cu13/nvvm/bin/cicc"]
    assert missing_compiler_parts(full) == []


# -- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("12.4", "12.4"), ("12.4.1", "12.4"), ("13", "13.0"), ("12", "12.4")]
)
def test_normalize_cuda_version(text: str, expected: str) -> None:
    assert normalize_cuda_version(text) == expected


@pytest.mark.parametrize("text", ["twelve", "12.x", "11"])
def test_normalize_cuda_version_rejects(text: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_cuda_version(text)


def test_default_provider() -> None:
    assert (default_provider("12.4"), default_provider("13.0")) == ("debian", "pypi")


def _request(*argv: str, environ: dict[str, str] | None = None) -> ToolkitRequest:
    settings: PlanSettings = resolved("plan", *argv, environ=environ)
    return toolkit_request(settings.toolkit)


def test_request_reads_cuda_home_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "cuda"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "nvcc").write_bytes(b"")
    env = {"CUDA_PATH": str(home), "BUILD_TOOLS_CACHE_DIR": str(tmp_path / "c")}
    request = _request(environ=env)
    assert request.cuda_home == home
    assert request.cuda_version is None
    assert request.cache_dir == tmp_path / "c"
    # A requested version means the pinned toolkit: the environment does not override it.
    pinned = _request("--cuda", "12.4.1", environ=env)
    assert (pinned.cuda_version, pinned.cuda_home, pinned.provider) == ("12.4", None, None)
    # A CUDA_HOME without nvcc is ignored (with a warning), not an error.
    stale = _request(environ={"CUDA_HOME": str(tmp_path / "nothing")})
    assert stale.cuda_home is None


def test_request_rejects_cuda_home_with_an_installing_provider(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--cuda-home"):
        _request("--cuda-home", str(tmp_path), "--toolkit-provider", "pypi")


@pytest.mark.parametrize(("provider", "version"), [("debian", "12.4"), ("pypi", "13.0")])
def test_a_provider_alone_means_its_pinned_version(
    tmp_path: Path, provider: str, version: str
) -> None:
    request = _request(
        "--toolkit-provider", provider, environ={"BUILD_TOOLS_CACHE_DIR": str(tmp_path)}
    )
    with pytest.raises(ToolkitError) as caught:
        resolve_toolkit(request, Runner(), install=False, environ={})
    assert f"CUDA {version} ({provider}) is not installed" in str(caught.value)
    assert f"toolkit install --cuda {version}" in str(caught.value.hint)


# -- cache bookkeeping -------------------------------------------------------------------------


def _fake_toolkit(root: Path) -> Toolkit:
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "bin" / "nvcc").write_bytes(b"\0" * 4096)
    return make_toolkit("13.0", archs=("75", "86"), root=root, provider="pypi")


def test_only_committed_roots_count_as_installed(tmp_path: Path) -> None:
    cache = ToolkitCache(tmp_path)
    with cache.staging("13.0", "pypi") as stage:
        toolkit = _fake_toolkit(stage)
        assert list_installed(tmp_path) == []  # staged, not committed
        final = cache.commit(stage, toolkit, ("nvidia-cuda-nvcc==13.0.88",))
    assert final == tmp_path / "toolkits" / "13.0-pypi"
    assert not stage.exists()
    [item] = list_installed(tmp_path)
    assert item.toolkit.root == final
    assert item.toolkit.sass_archs == ("75", "86")
    assert item.to_json()["size_bytes"] >= 4096
    # A root whose manifest is damaged does not count.
    (final / MANIFEST).write_text("{", encoding="utf-8")
    assert list_installed(tmp_path) == []
    (final / MANIFEST).write_text(json.dumps({"schema": 99}), encoding="utf-8")
    assert cache.find("13.0", "pypi") is None


def test_failed_staging_is_deleted_and_stale_staging_is_cleaned(tmp_path: Path) -> None:
    cache = ToolkitCache(tmp_path)
    staged: list[Path] = []

    def fail_while_staging() -> None:
        with cache.staging("12.4", "debian") as stage:
            staged.append(stage)
            _fake_toolkit(stage)
            raise RuntimeError("assembly failed")

    with pytest.raises(RuntimeError):
        fail_while_staging()
    assert not staged[0].exists()
    leftover = tmp_path / "toolkits" / ".staging-12.4-debian-killed"
    _fake_toolkit(leftover)  # what SIGKILL leaves behind
    assert list_installed(tmp_path) == []
    with cache.lock():
        cache.clean_stale()
    assert not leftover.exists()


# -- .deb member extraction --------------------------------------------------------------------


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def _deb(path: Path, files: dict[str, bytes], links: dict[str, str]) -> Path:
    """A minimal .deb: ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    data_tar = path.with_suffix(".data.tar.xz")
    with tarfile.open(data_tar, "w:xz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    body = _ar_member("debian-binary", b"2.0\n") + _ar_member("control.tar.xz", b"x")
    body += _ar_member("data.tar.xz", data_tar.read_bytes())
    path.write_bytes(b"!<arch>\n" + body)
    return path


def test_extract_members_takes_only_matching_parts(tmp_path: Path) -> None:
    deb = _deb(
        tmp_path / "dev.deb",
        {
            "./usr/include/cuda.h": b"header",
            "./usr/lib/x86_64-linux-gnu/libcudart_static.a": b"static",
            "./usr/lib/x86_64-linux-gnu/libcublas_static.a": b"huge",
            "./usr/lib/x86_64-linux-gnu/libcublas.so.12": b"so",
        },
        {"./usr/lib/x86_64-linux-gnu/libcublas.so": "libcublas.so.12"},
    )
    out = tmp_path / "out"
    patterns = ("./usr/include/*", "./usr/lib/x86_64-linux-gnu/libcu*.so*", "*/libcudart_static.a")
    assert extract_members(deb, out, patterns) == 4
    lib = out / "usr" / "lib" / "x86_64-linux-gnu"
    assert (out / "usr" / "include" / "cuda.h").read_bytes() == b"header"
    assert (lib / "libcublas.so").readlink() == Path("libcublas.so.12")
    assert not (lib / "libcublas_static.a").exists()
    assert (lib / "libcudart_static.a").read_bytes() == b"static"


def test_extract_members_rejects_a_non_deb(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.deb"
    bogus.write_bytes(b"<html>proxy error</html>")
    with pytest.raises(ToolkitError, match="not a Debian package"):
        extract_members(bogus, tmp_path / "out", ("*",))
