"""--cpu-variants: the CPU flags detect records, which ggml CPU variants a build compiles, and
fixture builds that prove only the chosen ones are built and installed."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from build_tools.__main__ import main
from build_tools.errors import ConfigurationError, InventoryError
from build_tools.generations import OllamaVersion, registry
from build_tools.gpus.cpuinfo import CpuInfo, cpu_from_json, parse_cpuinfo
from build_tools.planning.cpu_variants import choose_variants, parse_cpu_variants

from boxes import SEED_BOX, inventory, write_json_inventory
from g5_fixture import write_g5_fixture, write_llama_cpp
from ollama_fixture import write_fixture

HASWELL = frozenset(
    [
        "fpu",
        "sse",
        "sse2",
        "ssse3",
        "sse4_1",
        "sse4_2",
        "avx",
        "f16c",
        "fma",
        "avx2",
        "bmi1",
        "bmi2",
    ]
)
ICELAKE = HASWELL | frozenset(
    ["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw", "avx512vbmi", "avx512_vnni"]
)
OLD = frozenset(["fpu", "sse", "sse2", "ssse3"])  # no SSE4.2, no AVX


def cpuinfo_text(processors: list[frozenset[str]]) -> str:
    blocks = []
    for number, flags in enumerate(processors):
        blocks.append(
            f"processor\t: {number}\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.0GHz\n"
            f"flags\t\t: {' '.join(sorted(flags))}\nbogomips\t: 4000.00\n"
        )
    return "\n".join(blocks)


def choose(mode: str, tag: str, flags: frozenset[str] | None) -> tuple[str, ...] | None:
    generation = registry().for_version(OllamaVersion.parse(tag))
    cpu = None if flags is None else CpuInfo(arch="x86_64", flags=flags)
    request = parse_cpu_variants(mode)
    choice = choose_variants(
        request,
        generation.cpu_variants_at(OllamaVersion.parse(tag)),
        registry().cpu_features,
        cpu,
    )
    return choice.names


# --- /proc/cpuinfo ----------------------------------------------------------------------------
_flag = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


@given(st.lists(st.frozensets(_flag, min_size=1, max_size=30), min_size=1, max_size=8))
def test_cpuinfo_flags_are_what_every_processor_reports(processors: list[frozenset[str]]) -> None:
    cpu = parse_cpuinfo(cpuinfo_text(processors), "x86_64")
    assert cpu.flags == frozenset.intersection(*processors)
    assert cpu_from_json(json.loads(json.dumps(cpu.to_json())), "test") == cpu


@given(st.text(max_size=400))
def test_cpuinfo_text_parses_or_is_one_inventory_error(text: str) -> None:
    try:
        cpu = parse_cpuinfo(text, "x86_64")
    except InventoryError as error:
        message = error.message
    else:
        assert all(flag.isascii() and flag == flag.lower() for flag in cpu.flags)
        return
    assert "\n" not in message


_json = st.recursive(
    st.none() | st.booleans() | st.text(max_size=10),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(_json | st.fixed_dictionaries({"arch": _json, "flags": _json}))
def test_inventory_cpu_entry_parses_or_is_one_inventory_error(value: object) -> None:
    try:
        cpu = cpu_from_json(value, "inventory")
    except InventoryError:
        return
    assert cpu.arch == value["arch"]  # type: ignore[index]


@pytest.mark.parametrize(
    "text",
    [
        "processor\t: 0\nflags\t\t: sse4_2 AVX\n",  # upper case
        "processor\t: 0\nflags\t\t: sse4_2 av;x\n",
        "processor\t: 0\nno colon here\n",
        "processor\t: 0\nmodel name\t: x\n",  # an x86 CPU without flags
    ],
)
def test_malformed_cpuinfo_is_refused(text: str) -> None:
    with pytest.raises(InventoryError):
        parse_cpuinfo(text, "x86_64")


def test_other_architectures_have_no_flags() -> None:
    text = "processor\t: 0\nFeatures\t: fp asimd evtstrm\nCPU implementer\t: 0x41\n"
    assert parse_cpuinfo(text, "aarch64") == CpuInfo(arch="aarch64", flags=frozenset())


# --- choosing variants ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "flags", "expected"),
    [
        ("v0.24.0", HASWELL, ("x64", "haswell")),
        ("v0.24.0", ICELAKE, ("x64", "icelake")),
        ("v0.24.0", OLD, ("x64",)),
        ("v0.6.8", HASWELL, ("x64", "haswell")),
        ("v0.6.0", HASWELL, ("sandybridge", "haswell")),  # before x64 existed
        ("v0.6.0", OLD, ("sandybridge",)),
        ("v0.32.2", ICELAKE, ("x64", "icelake")),
        ("v0.32.2", HASWELL | {"avx_vnni"}, ("x64", "alderlake")),
    ],
)
def test_native_is_what_ggml_loads_plus_the_baseline(
    tag: str, flags: frozenset[str], expected: tuple[str, ...]
) -> None:
    assert choose("native", tag, flags) == expected


def test_a_list_gets_the_baseline_and_all_is_everything() -> None:
    assert choose("haswell", "v0.24.0", None) == ("x64", "haswell")
    assert choose("all", "v0.24.0", None) is None


def test_unknown_variant_and_unknown_cpu_are_one_line_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown variant 'zen4'.*x64, sse42"):
        choose("zen4,x64", "v0.24.0", None)
    with pytest.raises(ConfigurationError, match="flags are unknown"):
        choose("native", "v0.24.0", None)


# --- command line -----------------------------------------------------------------------------
def test_detect_records_this_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--json"]) == 0
    cpu = json.loads(capsys.readouterr().out)["cpu"]
    assert cpu["arch"] == platform.machine()
    if cpu["arch"] == "x86_64":
        assert "sse2" in cpu["flags"]


def test_profile_takes_cpu_variants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profiles = tmp_path / "ollama-build.toml"
    profiles.write_text('[profiles.box]\ncpu-variants = "x64,haswell"\n')
    args = ["build", "--profile", "box", "--profiles-file", str(profiles), "--show-options"]
    assert main([*args, "--json"]) == 0
    options = {o["option"]: o for o in json.loads(capsys.readouterr().out)["options"]}
    assert options["cpu-variants"]["value"] == "x64,haswell"
    assert options["cpu-variants"]["source"] == "profile"


def test_bad_cpu_variants_value_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--cpu-variants", "Haswell;rm", "--show-options"]) == 2
    assert "cpu-variants" in capsys.readouterr().err


def test_inventory_with_a_bad_cpu_entry_is_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = inventory(SEED_BOX).to_json()
    data["cpu"] = {"arch": "x86_64", "flags": ["avx2", "AVX 512"]}
    path = tmp_path / "box.json"
    path.write_text(json.dumps(data))
    assert main(["plan", "--inventory", str(path), "--arch", "86"]) == 4
    assert "cpu.flags" in capsys.readouterr().err


# --- fixture builds: only the chosen variants are built and installed -------------------------
def _variants_in(directory: Path) -> set[str]:
    return {p.name for p in directory.rglob("libggml-cpu-*.so")}


@pytest.fixture
def no_ambient_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CUDA_HOME", "CUDA_PATH", "CUDACXX", "CUDAHOSTCXX", "OLLAMA_LLAMA_CPP_SOURCE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.toolchain
@pytest.mark.usefixtures("cuda12_toolkit", "no_ambient_cuda")
def test_g4_fixture_builds_only_the_chosen_variants_then_all_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fixture(tmp_path / "ollama-g4", generation="G4", tag="v0.24.0")
    box = write_json_inventory(tmp_path / "box.json", SEED_BOX)
    workdir = tmp_path / "work"
    common = [
        "build", "--source", str(source), "--ref", "v0.24.0", "--workdir", str(workdir),
        "--inventory", str(box), "--cuda", "12.4", "--compiler-cache", "none",
        "--exclude-arch", "50", "--json",
    ]  # fmt: skip
    assert main([*common, "--cpu-variants", "haswell"]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    lib = Path(summary["staging_dir"]) / "lib" / "ollama"
    assert _variants_in(lib) == {"libggml-cpu-x64.so", "libggml-cpu-haswell.so"}
    assert _variants_in(workdir / "build") == {"libggml-cpu-x64.so", "libggml-cpu-haswell.so"}
    assert summary["cpu_variants"] == ["x64", "haswell"]

    # The same work directory with an --inventory and no choice: a release build, all of them.
    assert main(common) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["cpu_variants"] is None
    assert _variants_in(lib) >= {"libggml-cpu-sse42.so"}


@pytest.mark.toolchain
@pytest.mark.usefixtures("cuda12_toolkit", "no_ambient_cuda")
def test_g5_fixture_native_from_the_inventorys_cpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llama = tmp_path / "upstream" / "llama.cpp"
    patch = write_llama_cpp(llama)
    source = write_g5_fixture(tmp_path / "ollama", patch)
    data = inventory(SEED_BOX).to_json()
    data["cpu"] = CpuInfo(arch="x86_64", flags=HASWELL).to_json()
    box = tmp_path / "box.json"
    box.write_text(json.dumps(data))
    args = [
        "build", "--source", str(source), "--ref", "v0.32.2", "--workdir", str(tmp_path / "w"),
        "--inventory", str(box), "--llama-cpp-source", str(llama), "--compiler-cache", "none",
        "--cuda", "12.4", "--exclude-arch", "50", "--cpu-variants", "native", "--json",
    ]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["cpu_variants"] == ["x64", "haswell"]
    lib = Path(summary["staging_dir"]) / "lib" / "ollama"
    assert _variants_in(lib) == {"libggml-cpu-x64.so", "libggml-cpu-haswell.so"}
    assert _variants_in(tmp_path / "w" / "build") == {
        "libggml-cpu-x64.so",
        "libggml-cpu-haswell.so",
    }


def test_inspect_says_which_variant_the_inventorys_cpu_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = tmp_path / "install" / "lib" / "ollama"
    lib.mkdir(parents=True)
    for name in ("libggml-base.so", "libggml-cpu-x64.so", "libggml-cpu-haswell.so"):
        (lib / name).write_bytes(b"placeholder")
    for flags, loads in ((HASWELL, "haswell"), (OLD, "x64")):
        data = inventory(SEED_BOX).to_json()
        data["cpu"] = CpuInfo(arch="x86_64", flags=flags).to_json()
        box = tmp_path / "box.json"
        box.write_text(json.dumps(data))
        args = ["inspect", str(tmp_path / "install"), "--inventory", str(box)]
        assert main([*args, "--ollama-generation", "G4", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["cpu_variants"]["loads"] == loads
        assert main([*args, "--ollama-generation", "G4"]) == 0
        assert f"loads libggml-cpu-{loads}.so" in capsys.readouterr().err
