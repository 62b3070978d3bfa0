"""G5 tree facts and the superbuild recipe's commands for a plan (pure: nothing is built)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from build_tools.build_plan import BuildPlan
from build_tools.gpus.inventory import Inventory
from build_tools.pipeline.prepare import tree_stock_of
from build_tools.pipeline.run import BuildResult
from build_tools.pipeline.summary import build_summary
from build_tools.planning.arch_plan import ArchRequest, make_arch_plan
from build_tools.recipes import recipe_for
from build_tools.recipes.base import Step
from build_tools.source.llama_cpp import LlamaCppSource
from build_tools.source.ollama_tree import read_tree
from build_tools.source.server_install import server_libraries_of, server_programs_of
from build_tools.toolkit.model import Toolkit

from g5_fixture import write_g5_fixture
from plan_values import (
    CUDA_12_4_ARCHS,
    generation,
    make_build_plan,
    make_checkout,
    make_options,
    make_toolkit,
)

ARCHS = ("75", "80", "86", "89", "90")
TOOLKIT = make_toolkit("12.4", archs=("50", *ARCHS))
TOOLKIT13 = make_toolkit("13.0", archs=ARCHS)
LLAMA_ROOT = Path("/work/sources/llama.cpp-abc")
LLAMA_CPP = LlamaCppSource(
    root=LLAMA_ROOT,
    source="https://github.com/ggml-org/llama.cpp.git",
    kind="git",
    wanted="b100",
    ref="b100",
    commit="1" * 40,
    describe="b100",
    verified=True,
    patches=("001-llama-cpp-hooks.patch",),
)


@pytest.fixture(scope="module")
def tree_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_g5_fixture(tmp_path_factory.mktemp("g5") / "ollama", patch="")


def make_plan(root: Path, *, toolkit: Toolkit = TOOLKIT, with_vulkan: bool = False) -> BuildPlan:
    options = make_options(
        ninja=Path("/opt/ninja/bin/ninja"),
        with_vulkan=with_vulkan,
        host_compiler=Path("/usr/bin/g++-12"),
    )
    checkout = make_checkout(root, "v0.32.2")
    return make_build_plan(
        checkout, generation("G5"), toolkit=toolkit, options=options, llama_cpp=LLAMA_CPP
    )


def steps(plan: BuildPlan) -> dict[str, Step]:
    return {s.name: s for s in recipe_for(plan.tree.generation).steps(plan)}


def test_tree_facts_of_a_superbuild(tree_root: Path) -> None:
    tree = read_tree(tree_root)
    assert tree.generation == generation("G5")
    assert tree.llama_cpp_version == "b100"
    assert tree.preset_for(12) == "llama_cuda_v12_user_arch"
    assert tree.preset_for(13) == "llama_cuda_v13_user_arch"
    assert tree.preset_for(11) is None
    assert tree.compat_patch is not None
    assert tree.compat_patch.define == "PATCH_DIR"
    assert [p.name for p in tree.compat_patch.patches] == ["001-llama-cpp-hooks.patch"]
    assert tree.go_ldflags is not None
    assert "version.Version=${OLLAMA_VERSION}" in tree.go_ldflags
    assert tree.server_programs == ("llama-server", "llama-quantize")
    assert tree.server_libraries == ("ggml-base", "llama")


def test_arch_preset_follows_the_trees_own_stock_presets(tree_root: Path) -> None:
    tree = read_tree(tree_root)
    # The fixture's lists differ from every built-in G5 row on purpose.
    assert tree.stock_lists() == {
        12: "50-virtual;52-virtual;60;61;75;86",
        13: "75-virtual;86-virtual;120-virtual",
    }
    request = ArchRequest(
        arch_tokens=("preset",),
        exclude_tokens=("50",),
        generation=tree.generation,
        tree_stock=tree_stock_of(tree),
    )
    toolkit = make_toolkit("12.4", archs=CUDA_12_4_ARCHS)
    plan = make_arch_plan(request, Inventory(gpus=(), source="none"), toolkit)
    assert plan.cuda_architectures == "52-virtual;60;61;75;86"
    assert plan.stock_source == (
        "CUDA 12 stock list from the tree's llama/server/CMakePresets.json"
    )


def test_v0_30_0_compat_takes_a_single_patch_file(tmp_path: Path) -> None:
    root = write_g5_fixture(tmp_path / "ollama", patch="", tag="v0.30.0")
    compat = root / "llama" / "compat"
    (compat / "001-llama-cpp-hooks.patch").rename(compat / "llama-cpp-hooks.patch")
    (compat / "compat.cmake").write_text(
        "set(OLLAMA_LLAMA_CPP_COMPAT_PATCH_COMMAND\n    ${CMAKE_COMMAND}\n"
        "        -DPATCH_FILE=${_compat_dir}/llama-cpp-hooks.patch\n"
        "        -P ${_compat_dir}/apply-patch.cmake)\n"
    )
    patch = read_tree(root).compat_patch
    assert patch is not None
    assert (patch.define, patch.target) == ("PATCH_FILE", compat / "llama-cpp-hooks.patch")
    assert patch.patches == (compat / "llama-cpp-hooks.patch",)


def test_superbuild_configure_selects_backend_list_source_and_staging(tree_root: Path) -> None:
    plan = make_plan(tree_root)
    assert list(steps(plan)) == [
        "go-mod-download",
        "configure-superbuild",
        "configure-local",
        "configure-cuda_v12",
        "configure-local-cpu-variants",
        "build-local",
        "build-cuda_v12",
        "install-local",
        "install-cuda_v12",
        "go-build",
    ]
    argv = steps(plan)["configure-superbuild"].argv
    for expected in (
        "Ninja",
        "-DOLLAMA_LLAMA_BACKENDS=cuda_v12",
        "-DCMAKE_CUDA_ARCHITECTURES=86",
        "-DCUDAToolkit_ROOT=/cache/toolkits/12.4-debian",
        "-DOLLAMA_VERSION=0.32.2",
        f"-DOLLAMA_PAYLOAD_INSTALL_PREFIX={plan.staging_dir}",
        f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP={LLAMA_ROOT}",
        f"-DOLLAMA_GO_OUTPUT={plan.build_dir / 'superbuild' / 'superbuild-ollama'}",
        "-DOLLAMA_BUILD_PARALLEL=3",
        "-DGGML_VULKAN=OFF",
        "-DGGML_CCACHE=OFF",
    ):
        assert expected in argv, expected


def test_only_what_each_nested_build_installs_is_built_never_all_nor_ollama_go(
    tree_root: Path,
) -> None:
    plan = make_plan(tree_root)
    built: dict[str, list[str]] = {}
    for step in steps(plan).values():
        if "--build" in step.argv:
            directory = Path(step.argv[step.argv.index("--build") + 1])
            targets = step.argv[step.argv.index("--target") + 1 :]
            if step.phase == "configure":  # an ExternalProject's configure stamp, nothing else
                assert directory == plan.build_dir / "superbuild", step.name
                assert len(targets) == 1, targets
                assert targets[0].endswith("-configure"), targets
            else:
                built[directory.name] = list(targets[: targets.index("--parallel")])
    assert built == {
        "llama-server-local": ["llama-server", "llama-quantize"],
        "llama-server-cuda_v12": ["ggml-cuda"],
    }


def test_the_toolkit_reaches_nested_builds_through_their_environment(tree_root: Path) -> None:
    plan = make_plan(tree_root)
    for name in ("configure-superbuild", "configure-cuda_v12", "build-cuda_v12"):
        env = steps(plan)[name].env
        assert env is not None
        assert str(env["PATH"]).startswith("/cache/toolkits/12.4-debian/bin:/opt/ninja/bin:")
        assert env["CUDACXX"] == "/cache/toolkits/12.4-debian/bin/nvcc"
        assert env["CUDAToolkit_ROOT"] == "/cache/toolkits/12.4-debian"
        assert env["CUDAHOSTCXX"] == env["NVCC_CCBIN"] == "/usr/bin/g++-12"
        assert env["CMAKE_GENERATOR"] == "Ninja"
        assert env["GIT_ALLOW_PROTOCOL"] == "file"


def test_go_builds_offline_with_the_superbuild_ldflags(tree_root: Path) -> None:
    plan = make_plan(tree_root)
    go = steps(plan)["go-build"]
    assert go.env is not None
    assert go.env["GOPROXY"] == "off"
    assert go.env["GOTOOLCHAIN"] == "local"
    assert "-buildmode=pie" in go.argv
    assert (
        "-ldflags=-w -X=github.com/ollama/ollama/version.Version=0.32.2 "
        "-X=github.com/ollama/ollama/server.mode=release"
    ) in go.argv
    assert recipe_for(generation("G5")).go_variables(plan) == {
        "github.com/ollama/ollama/version.Version": "0.32.2",
        "github.com/ollama/ollama/server.mode": "release",
    }
    assert steps(plan)["go-mod-download"].argv == ("/bin/go", "mod", "download")


def test_cuda13_toolkit_builds_cuda_v13(tree_root: Path) -> None:
    plan = make_plan(tree_root, toolkit=TOOLKIT13)
    assert "-DOLLAMA_LLAMA_BACKENDS=cuda_v13" in steps(plan)["configure-superbuild"].argv
    assert "build-cuda_v13" in steps(plan)


def test_every_backend_follows_the_plan_or_stays_off_and_says_which(tree_root: Path) -> None:
    plan = make_plan(tree_root)
    backends = {b.name: b for b in plan.backends}
    assert [(b.name, b.enabled, b.archs) for b in plan.backends] == [
        ("cuda_v12", True, "86"),
        ("vulkan", False, None),
        ("mlx-cuda", False, None),
    ]
    assert "MLX_CUDA_ARCHITECTURES" in backends["mlx-cuda"].reason
    # The configure turns MLX off explicitly: upstream defaults OLLAMA_MLX_BACKENDS only when
    # it is undefined (v0.33.0-rc2:cmake/local.cmake), and a profile or cache could set it.
    assert "-DOLLAMA_MLX_BACKENDS=" in steps(plan)["configure-superbuild"].argv
    summary = plan.to_json()["backends"]
    assert summary[2] == {
        "name": "mlx-cuda",
        "enabled": False,
        "arch_variable": "MLX_CUDA_ARCHITECTURES",
        "archs": None,
        "reason": backends["mlx-cuda"].reason,
    }
    with_vulkan = {b.name: b.enabled for b in make_plan(tree_root, with_vulkan=True).backends}
    assert with_vulkan == {"cuda_v12": True, "vulkan": True, "mlx-cuda": False}


def test_step_summary_lists_the_backends(tree_root: Path, tmp_path: Path) -> None:
    plan = dataclasses.replace(make_plan(tree_root), options=make_options(tmp_path))
    text = build_summary(BuildResult(plan=plan, complete=False, stages=()))
    assert "| cuda_v12 | yes | `86` |" in text
    assert "| mlx-cuda | no | off: OLLAMA_MLX_BACKENDS is set empty" in text


def test_vulkan_only_when_asked(tree_root: Path) -> None:
    plan = make_plan(tree_root, with_vulkan=True)
    argv = steps(plan)["configure-superbuild"].argv
    assert "-DOLLAMA_LLAMA_BACKENDS=cuda_v12;vulkan" in argv
    assert "-DGGML_VULKAN=OFF" not in argv
    assert {"configure-vulkan", "build-vulkan", "install-vulkan"} <= set(steps(plan))


# --- the programs the CPU build ships, read from llama/server/CMakeLists.txt -----------------

_TARGET = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.+-", min_size=1, max_size=20)
_SPACE = st.sampled_from([" ", "\n    ", "\t", "  \n\t"])


# Text before the line, without a "(" so that it holds no install( call of its own.
_BEFORE = st.text(alphabet=st.characters(exclude_characters="("), max_size=200)


@given(targets=st.lists(_TARGET, min_size=1, max_size=5), gap=_SPACE, before=_BEFORE)
def test_the_install_line_gives_exactly_its_targets(
    targets: list[str], gap: str, before: str
) -> None:
    line = f"install(TARGETS{gap}{gap.join(targets)}{gap}RUNTIME DESTINATION ${{_base_dest}} "
    text = before + "\n" + line + "COMPONENT llama-server OPTIONAL)\n"
    assert server_programs_of(text) == tuple(targets)


@given(text=st.text(max_size=400))
def test_any_text_gives_target_names_or_nothing(text: str) -> None:
    found = server_programs_of(text)
    assert all(name and not any(c.isspace() for c in name) for name in found)


def test_library_lists_and_gpu_destinations_are_not_the_programs() -> None:
    text = (
        'install(TARGETS ggml-cuda LIBRARY DESTINATION "${_base_dest}/${OLLAMA_RUNNER_DIR}")\n'
        "install(TARGETS ${_llama_server_base_libs}\n"
        "    RUNTIME DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL)\n"
    )
    assert server_programs_of(text) == ()


# --- the libraries it ships beside them --------------------------------------------------------


def _library_rule(variable: str, gap: str) -> str:
    return (
        f"install(TARGETS ${{{variable}}}{gap}RUNTIME DESTINATION ${{_base_dest}} OPTIONAL{gap}"
        "LIBRARY DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL)\n"
    )


@given(
    first=st.lists(_TARGET, min_size=1, max_size=4),
    appended=st.lists(_TARGET, max_size=3),
    looped=st.lists(_TARGET, max_size=3),
    gap=_SPACE,
    before=_BEFORE,
)
def test_the_library_list_is_expanded_as_cmake_builds_it(
    first: list[str], appended: list[str], looped: list[str], gap: str, before: str
) -> None:
    # set(), list(APPEND) with names, and list(APPEND ${item}) inside foreach(item IN ITEMS)
    text = (
        before
        + f"\nset(_libs{gap}{gap.join(first)})\n"
        + (f"list(APPEND _libs {' '.join(appended)})\n" if appended else "")
        + (f"foreach(_one IN ITEMS {' '.join(looped)})\n" if looped else "")
        + ("    if(TARGET ${_one})\n        list(APPEND _libs ${_one})\n    endif()\n")
        + ("endforeach()\n" if looped else "")
        + _library_rule("_libs", gap)
    )
    assert server_libraries_of(text) == tuple(dict.fromkeys([*first, *appended, *looped]))


def test_only_the_list_installed_into_the_base_directory_counts() -> None:
    text = (
        "set(_gpu ggml-cuda)\nset(_libs ggml-base)\n"
        'install(TARGETS ${_gpu} LIBRARY DESTINATION "${_base_dest}/${OLLAMA_RUNNER_DIR}")\n'
        + _library_rule("_libs", " ")
    )
    assert server_libraries_of(text) == ("ggml-base",)
    assert server_libraries_of(text.replace("LIBRARY DESTINATION ${_base_dest}", "")) == ()


@given(text=st.text(max_size=400))
def test_any_text_gives_library_names_or_nothing(text: str) -> None:
    found = server_libraries_of(text)
    assert all(name and not any(c.isspace() or c in "${}()" for c in name) for name in found)
