"""Miniature Ollama G5 (v0.30+) superbuild trees and a miniature llama.cpp, for the tests.

The Ollama tree reproduces what the G5 recipe relies on (docs/generations.md#g5): a root
project whose cmake/local.cmake reads LLAMA_CPP_VERSION, honours
FETCHCONTENT_SOURCE_DIR_LLAMA_CPP (else clones at build time), and drives one ExternalProject per
backend that configures llama/server with a preset (``*_user_arch`` when a list is given),
forwarding only GGML_*/LLAMA_* cache variables, the arch list, CMAKE_CUDA_FLAGS and
CUDAToolkit_ROOT - not CMAKE_CUDA_COMPILER; llama/server pulls llama.cpp with FetchContent;
llama/compat holds an idempotent apply-patch.cmake and a patch; the superbuild's own
``ollama-go`` target has hard-coded ldflags. Every git URL in it is ``file:///nonexistent/...``:
a build that tried to fetch anything would fail.

The llama.cpp repository has tags ``b100`` and ``b101``, a CUDA kernel library
(``libggml-cuda.so``), CPU backend modules, ``libllama`` and a ``llama-server`` that prints
whether Ollama's compat hook was compiled in.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

NOWHERE = "file:///nonexistent/llama.cpp.git"
LLAMA_TAGS = ("b100", "b101")

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "fixture",
    "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
    "GIT_COMMITTER_NAME": "fixture",
    "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "PATH": "/usr/bin:/bin",
}


def git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=_GIT_ENV
    )
    return result.stdout


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


# --- llama.cpp -------------------------------------------------------------------------------

LLAMA_CMAKE = """\
cmake_minimum_required(VERSION 3.21)
project(llama.cpp C CXX)
option(GGML_CUDA "CUDA backend" OFF)
option(GGML_VULKAN "Vulkan backend" OFF)
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
set(CMAKE_LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

add_library(ggml-base SHARED ggml/src/ggml.c)
target_include_directories(ggml-base PUBLIC ggml/include)
# As ggml_add_backend_library() does with GGML_BACKEND_DL: every backend module is a
# dependency of the library llama-server links, so building llama-server builds them all.
foreach(tag x64 sse42 haswell)
    add_library(ggml-cpu-${tag} MODULE ggml/src/ggml-cpu.c)
    target_link_libraries(ggml-cpu-${tag} PRIVATE ggml-base)
endforeach()

add_library(llama SHARED src/llama.cpp)
target_include_directories(llama PUBLIC include)
target_link_libraries(llama PUBLIC ggml-base)
foreach(tag x64 sse42 haswell)
    add_dependencies(llama ggml-cpu-${tag})
endforeach()
add_executable(llama-server tools/server/server.cpp)
target_link_libraries(llama-server PRIVATE llama)
# LLAMA_BUILD_TOOLS: Ollama installs llama-quantize; the other tools are built by `all` only.
add_executable(llama-quantize tools/quantize/quantize.cpp)
target_link_libraries(llama-quantize PRIVATE llama)
add_executable(llama-cli tools/cli/cli.cpp)
target_link_libraries(llama-cli PRIVATE llama)

if(GGML_CUDA)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    add_library(ggml-cuda SHARED ggml/src/ggml-cuda/ggml-cuda.cu)
    target_link_libraries(ggml-cuda PRIVATE ggml-base CUDA::cudart)
endif()
if(GGML_VULKAN)
    add_library(ggml-vulkan SHARED ggml/src/ggml-cpu.c)
    target_link_libraries(ggml-vulkan PRIVATE ggml-base)
endif()
"""

LLAMA_SOURCES = {
    "CMakeLists.txt": LLAMA_CMAKE,
    "ggml/include/ggml.h": "int ggml_base_answer(void);\n",
    # __FILE__, as in ggml's GGML_ASSERT (see ollama_fixture.SOURCES).
    "ggml/src/ggml.c": (
        '#include "ggml.h"\nint ggml_base_answer(void) { return 42; }\n'
        "const char *ggml_base_file(void) { return __FILE__; }\n"
    ),
    "ggml/src/ggml-cpu.c": '#include "ggml.h"\nint ggml_cpu_answer(void) { return 1; }\n',
    "ggml/src/ggml-cuda/ggml-cuda.cu": textwrap.dedent(
        """\
        #include <cuda_runtime.h>
        __global__ void scale(float *x, float a, int n) {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) x[i] *= a;
        }
        // Internal linkage, as in real ggml: nvcc names the kernel in the anonymous namespace
        // after a hash of the source path, so a work-directory path shows in the device code.
        namespace {
        __device__ float twice(float v) { return 2.0f * v; }
        __global__ void double_all(float *x, int n) {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) x[i] = twice(x[i]);
        }
        }  // namespace
        static __global__ void halve(float *x, int n) {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) x[i] = 0.5f * x[i];
        }
        __device__ const char kernel_file[] = __FILE__;
        __global__ void first_char(float *x) { x[0] = kernel_file[0]; }
        extern "C" const char *ggml_cuda_file(void) { return __FILE__; }
        #define STR2(...) #__VA_ARGS__
        #define STR(...) STR2(__VA_ARGS__)
        // ggml prints this as "CUDA : ARCHS = ..."; Ollama G5 matches GPUs against it.
        extern "C" const char *ggml_cuda_archs(void) { return STR(__CUDA_ARCH_LIST__); }
        extern "C" int ggml_cuda_probe(void) {
            float *x = nullptr;
            if (cudaMalloc(&x, 4 * sizeof(float)) != cudaSuccess) return 0;
            scale<<<1, 4>>>(x, 2.0f, 4);
            double_all<<<1, 4>>>(x, 4);
            halve<<<1, 4>>>(x, 4);
            first_char<<<1, 1>>>(x);
            cudaFree(x);
            return 1;
        }
        """
    ),
    "include/llama.h": 'extern "C" const char *llama_compat_status(void);\n',
    "src/llama.cpp": textwrap.dedent(
        """\
        #include "llama.h"
        // model loader: Ollama's compat patch adds its hook here
        extern "C" const char *llama_compat_status(void) { return "unpatched"; }
        """
    ),
    "tools/quantize/quantize.cpp": "int main() { return 0; }\n",
    "tools/cli/cli.cpp": "int main() { return 0; }\n",
    "tools/server/server.cpp": textwrap.dedent(
        """\
        #include <cstdio>
        #include "llama.h"
        int main() { std::printf("compat=%s\\n", llama_compat_status()); return 0; }
        """
    ),
}

PATCHED_LLAMA = textwrap.dedent(
    """\
    #include "llama.h"
    #include "llama-ollama-compat.h"
    // model loader: Ollama's compat patch adds its hook here
    extern "C" const char *llama_compat_status(void) { return llama_ollama_compat_status(); }
    """
)


def write_llama_cpp(root: Path) -> str:
    """A llama.cpp git repository tagged b100 (HEAD at b101); returns the compat patch text."""
    _write(root, LLAMA_SOURCES)
    git(root, "init", "-q", "-b", "master")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "b100")
    git(root, "tag", "b100")
    # The compat patch is made against b100 the way Ollama makes its own: a git diff.
    (root / "src" / "llama.cpp").write_text(PATCHED_LLAMA)
    patch = git(root, "diff")
    git(root, "checkout", "--", "src/llama.cpp")
    (root / "README.md").write_text("llama.cpp fixture\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "b101")
    git(root, "tag", "b101")
    return patch


def plain_copy(repo: Path, dest: Path) -> Path:
    """The tree at b100 without .git, like the llama.cpp inside the xllamacpp sdist."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", "b100"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


# --- Ollama superbuild -----------------------------------------------------------------------

ROOT_CMAKE = """\
cmake_minimum_required(VERSION 3.24)
project(Ollama C CXX)
include(GNUInstallDirs)
if(NOT CMAKE_BUILD_TYPE)
    set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()
set(OLLAMA_LIB_DIR "lib/ollama" CACHE STRING "Install destination for payloads")
set(OLLAMA_HAVE_LLAMA_SERVER TRUE)
include(${CMAKE_CURRENT_SOURCE_DIR}/cmake/local.cmake)
"""

LOCAL_CMAKE = """\
include(ExternalProject)
set(OLLAMA_LLAMA_BACKENDS "" CACHE STRING "cuda_v12;cuda_v13;vulkan")
set(OLLAMA_MLX_BACKENDS "" CACHE STRING "no MLX in the fixture")
set(OLLAMA_VERSION "0.0.0" CACHE STRING "Ollama version")
set(OLLAMA_PAYLOAD_INSTALL_PREFIX "${CMAKE_BINARY_DIR}" CACHE PATH "staging prefix")
set(OLLAMA_BUILD_PARALLEL "" CACHE STRING "nested jobs")
string(REGEX REPLACE "^v" "" OLLAMA_VERSION "${OLLAMA_VERSION}")
if(OLLAMA_MLX_BACKENDS)
    message(FATAL_ERROR "the fixture has no MLX")
endif()

file(READ "${CMAKE_SOURCE_DIR}/LLAMA_CPP_VERSION" OLLAMA_LLAMA_CPP_GIT_TAG)
string(STRIP "${OLLAMA_LLAMA_CPP_GIT_TAG}" OLLAMA_LLAMA_CPP_GIT_TAG)
include(${CMAKE_SOURCE_DIR}/llama/compat/compat.cmake)
if(NOT "${FETCHCONTENT_SOURCE_DIR_LLAMA_CPP}" STREQUAL "")
    get_filename_component(OLLAMA_LLAMA_CPP_SOURCE_DIR
        "${FETCHCONTENT_SOURCE_DIR_LLAMA_CPP}" ABSOLUTE BASE_DIR "${CMAKE_SOURCE_DIR}")
    add_custom_target(ollama-llama-cpp-source)
else()
    set(OLLAMA_LLAMA_CPP_SOURCE_DIR "${CMAKE_BINARY_DIR}/_deps/llama_cpp-src")
    ExternalProject_Add(ollama-llama-cpp-source
        GIT_REPOSITORY "@NOWHERE@"
        GIT_TAG ${OLLAMA_LLAMA_CPP_GIT_TAG}
        GIT_SHALLOW TRUE
        SOURCE_DIR ${OLLAMA_LLAMA_CPP_SOURCE_DIR}
        CONFIGURE_COMMAND "" BUILD_COMMAND "" INSTALL_COMMAND ""
        PATCH_COMMAND ${OLLAMA_LLAMA_CPP_COMPAT_PATCH_COMMAND})
endif()

set(_native_parallel_args --parallel)
if(NOT OLLAMA_BUILD_PARALLEL STREQUAL "")
    list(APPEND _native_parallel_args ${OLLAMA_BUILD_PARALLEL})
endif()

function(ollama_escape_cmake_list input output)
    string(REPLACE ";" "|" _escaped "${input}")
    set(${output} "${_escaped}" PARENT_SCOPE)
endfunction()

function(ollama_collect_cache_args_with_prefix prefix output)
    get_cmake_property(_cache_variables CACHE_VARIABLES)
    set(_args)
    foreach(_var IN LISTS _cache_variables)
        if(_var MATCHES "^${prefix}")
            ollama_escape_cmake_list("${${_var}}" _value)
            list(APPEND _args "-D${_var}=${_value}")
        endif()
    endforeach()
    set(${output} "${_args}" PARENT_SCOPE)
endfunction()

function(ollama_append_cache_arg_if_set output name)
    if(DEFINED ${name} AND NOT "${${name}}" STREQUAL "")
        ollama_escape_cmake_list("${${name}}" _value)
        set(${output} ${${output}} "-D${name}=${_value}" PARENT_SCOPE)
    endif()
endfunction()

function(ollama_add_llama_server_build name)
    cmake_parse_arguments(ARG "" "PRESET;RUNNER_DIR" "TARGETS;CMAKE_ARGS" ${ARGN})
    ollama_collect_cache_args_with_prefix("GGML_" _ggml_cache_args)
    ollama_collect_cache_args_with_prefix("LLAMA_" _llama_cache_args)
    set(_cmake_args
        -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
        -DCMAKE_INSTALL_PREFIX=${OLLAMA_PAYLOAD_INSTALL_PREFIX}
        -DOLLAMA_LIB_DIR:STRING=${OLLAMA_LIB_DIR}
        -DOLLAMA_RUNNER_DIR=${ARG_RUNNER_DIR}
        -DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP=${OLLAMA_LLAMA_CPP_SOURCE_DIR}
        -DOLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH=ON
        -DGGML_NATIVE=OFF
        ${ARG_CMAKE_ARGS}
        ${_ggml_cache_args}
        ${_llama_cache_args})
    set(_configure ${CMAKE_COMMAND} -S ${CMAKE_SOURCE_DIR}/llama/server
        -B <BINARY_DIR> ${_cmake_args})
    if(ARG_PRESET)
        set(_configure ${CMAKE_COMMAND} -S ${CMAKE_SOURCE_DIR}/llama/server
            --preset ${ARG_PRESET} -B <BINARY_DIR> ${_cmake_args})
    endif()
    ExternalProject_Add(ollama-llama-server-${name}
        SOURCE_DIR ${CMAKE_SOURCE_DIR}/llama/server
        BINARY_DIR ${CMAKE_BINARY_DIR}/llama-server-${name}
        CONFIGURE_COMMAND ${_configure}
        BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> ${_native_parallel_args}
            --target ${ARG_TARGETS}
        INSTALL_COMMAND ${CMAKE_COMMAND} --install <BINARY_DIR> --component llama-server
        DEPENDS ollama-llama-cpp-source
        LIST_SEPARATOR |
        BUILD_ALWAYS TRUE
        USES_TERMINAL_CONFIGURE TRUE
        USES_TERMINAL_BUILD TRUE
        USES_TERMINAL_INSTALL TRUE)
endfunction()

find_program(GO_EXECUTABLE go)
if(NOT OLLAMA_GO_OUTPUT)
    set(OLLAMA_GO_OUTPUT ${CMAKE_SOURCE_DIR}/ollama)
endif()
set(OLLAMA_GO_OUTPUT "${OLLAMA_GO_OUTPUT}" CACHE FILEPATH "Output path for the Go binary")
set(OLLAMA_GO_LDFLAGS "-s -w -X=github.com/ollama/ollama/version.Version=${OLLAMA_VERSION} @MODE@")
add_custom_target(ollama-go ALL
    COMMAND ${CMAKE_COMMAND} -E env CGO_ENABLED=1
        ${GO_EXECUTABLE} build -trimpath -ldflags "${OLLAMA_GO_LDFLAGS}" -o "${OLLAMA_GO_OUTPUT}" .
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    VERBATIM)

ollama_add_llama_server_build(local
    RUNNER_DIR ""
    TARGETS llama-server
    CMAKE_ARGS -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON)
add_custom_target(ollama-local ALL DEPENDS ollama-go ollama-llama-server-local)
install(PROGRAMS "${OLLAMA_GO_OUTPUT}" DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT ollama-local)

set(_backend_targets)
foreach(_backend IN LISTS OLLAMA_LLAMA_BACKENDS)
    if(_backend STREQUAL "cuda_v12" OR _backend STREQUAL "cuda_v13")
        if(DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT "${CMAKE_CUDA_ARCHITECTURES}" STREQUAL "")
            set(_preset llama_${_backend}_user_arch)
        else()
            set(_preset llama_${_backend}_linux)
        endif()
        set(_cuda_args)
        ollama_append_cache_arg_if_set(_cuda_args CMAKE_CUDA_ARCHITECTURES)
        ollama_append_cache_arg_if_set(_cuda_args CMAKE_CUDA_FLAGS)
        ollama_append_cache_arg_if_set(_cuda_args CUDAToolkit_ROOT)
        ollama_add_llama_server_build(${_backend}
            PRESET ${_preset} RUNNER_DIR ${_backend} TARGETS ggml-cuda CMAKE_ARGS ${_cuda_args})
        list(APPEND _backend_targets ollama-llama-server-${_backend})
    elseif(_backend STREQUAL "vulkan")
        ollama_add_llama_server_build(vulkan
            RUNNER_DIR vulkan TARGETS ggml-vulkan
            CMAKE_ARGS -DBUILD_SHARED_LIBS=ON -DGGML_VULKAN=ON -DOLLAMA_GPU_BACKEND=vulkan)
        list(APPEND _backend_targets ollama-llama-server-vulkan)
    else()
        message(FATAL_ERROR "Unknown OLLAMA_LLAMA_BACKENDS entry '${_backend}'")
    endif()
endforeach()
if(_backend_targets)
    add_custom_target(ollama-llama-server-backends ALL DEPENDS ${_backend_targets})
endif()

install(DIRECTORY "${OLLAMA_PAYLOAD_INSTALL_PREFIX}/${OLLAMA_LIB_DIR}/"
    DESTINATION "${OLLAMA_LIB_DIR}" COMPONENT ollama-local USE_SOURCE_PERMISSIONS)
"""

SERVER_CMAKE = """\
cmake_minimum_required(VERSION 3.24)
project(ollama-llama-server C CXX)
set(CMAKE_INSTALL_RPATH "$ORIGIN")
set(CMAKE_BUILD_RPATH "$ORIGIN")

if(GGML_CUDA AND NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "native" CACHE STRING "CUDA architectures" FORCE)
endif()

include(FetchContent)
file(READ "${CMAKE_CURRENT_SOURCE_DIR}/../../LLAMA_CPP_VERSION" LLAMA_CPP_GIT_TAG)
string(STRIP "${LLAMA_CPP_GIT_TAG}" LLAMA_CPP_GIT_TAG)
include(${CMAKE_CURRENT_SOURCE_DIR}/../compat/compat.cmake)
option(OLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH "source already prepared" OFF)
set(_patch_cmd "")
if(NOT OLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH)
    set(_patch_cmd PATCH_COMMAND ${OLLAMA_LLAMA_CPP_COMPAT_PATCH_COMMAND})
endif()
FetchContent_Declare(llama_cpp
    GIT_REPOSITORY "@NOWHERE@"
    GIT_TAG ${LLAMA_CPP_GIT_TAG}
    GIT_SHALLOW TRUE
    ${_patch_cmd})
FetchContent_MakeAvailable(llama_cpp)
message(STATUS "llama.cpp source: ${llama_cpp_SOURCE_DIR}")

# Ollama's compat sources are linked into llama, not copied into the llama.cpp tree.
target_sources(llama PRIVATE ${OLLAMA_LLAMA_CPP_COMPAT_DIR}/llama-ollama-compat.cpp)
target_include_directories(llama PRIVATE ${OLLAMA_LLAMA_CPP_COMPAT_DIR})

if(GGML_CUDA)
    find_package(CUDAToolkit)
endif()

set(_base_dest "${OLLAMA_LIB_DIR}")
if(OLLAMA_RUNNER_DIR)
    install(CODE "
        file(GLOB _gpu \\"${CMAKE_BINARY_DIR}/bin/libggml-${OLLAMA_GPU_BACKEND}*\\")
        foreach(_f \\${_gpu})
            file(INSTALL \\${_f}
                DESTINATION \\"\\${CMAKE_INSTALL_PREFIX}/${_base_dest}/${OLLAMA_RUNNER_DIR}\\")
        endforeach()
    " COMPONENT llama-server)
    if(GGML_CUDA AND CUDAToolkit_FOUND AND TARGET ggml-cuda)
        install(TARGETS ggml-cuda
            RUNTIME_DEPENDENCIES
                DIRECTORIES ${CUDAToolkit_LIBRARY_DIR}
                PRE_INCLUDE_REGEXES cudart
                PRE_EXCLUDE_REGEXES ".*"
            LIBRARY DESTINATION "${_base_dest}/${OLLAMA_RUNNER_DIR}" COMPONENT llama-server)
    endif()
else()
    # OPTIONAL, as upstream's: a target that was not built is skipped without a word.
    install(TARGETS llama-server llama-quantize
        RUNTIME DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL)
    set(_llama_server_base_libs ggml-base)
    list(APPEND _llama_server_base_libs llama)
    install(TARGETS ${_llama_server_base_libs}
        RUNTIME DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL
        LIBRARY DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL)
    install(CODE "
        file(GLOB _cpu \\"${CMAKE_BINARY_DIR}/bin/libggml-cpu*\\")
        foreach(_f \\${_cpu})
            file(INSTALL \\${_f} DESTINATION \\"\\${CMAKE_INSTALL_PREFIX}/${_base_dest}\\")
        endforeach()
    " COMPONENT llama-server)
endif()
"""


def _server_presets() -> str:
    def cuda(major: int, flags: str, archs: str) -> list[dict[str, object]]:
        base = f"llama_cuda_v{major}_base"
        binary = f"${{sourceDir}}/../../build/llama-server-cuda_v{major}"
        return [
            {
                "name": base,
                "hidden": True,
                "inherits": ["default"],
                "cacheVariables": {
                    "GGML_CUDA": "ON",
                    "CMAKE_CUDA_FLAGS": flags,
                    "OLLAMA_RUNNER_DIR": f"cuda_v{major}",
                    "OLLAMA_GPU_BACKEND": "cuda",
                },
            },
            {
                "name": f"llama_cuda_v{major}_linux",
                "inherits": [base],
                "binaryDir": binary,
                "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": archs},
            },
            {"name": f"llama_cuda_v{major}_user_arch", "inherits": [base], "binaryDir": binary},
        ]

    data = {
        "version": 3,
        "configurePresets": [
            {
                "name": "default",
                "binaryDir": "${sourceDir}/../../build/llama-server",
                "cacheVariables": {
                    "CMAKE_BUILD_TYPE": "Release",
                    "BUILD_SHARED_LIBS": "ON",
                    "GGML_BACKEND_DL": "ON",
                    "GGML_NATIVE": "OFF",
                },
            },
            {
                "name": "cpu",
                "inherits": ["default"],
                "cacheVariables": {"GGML_CPU_ALL_VARIANTS": "ON", "OLLAMA_RUNNER_DIR": ""},
            },
            *cuda(12, "-Wno-deprecated-gpu-targets -t 2", "50-virtual;52-virtual;60;61;75;86"),
            *cuda(13, "-t 4", "75-virtual;86-virtual;120-virtual"),
        ],
    }
    return json.dumps(data, indent=2)


COMPAT_CMAKE = """\
set(_compat_dir ${CMAKE_CURRENT_LIST_DIR})
set(OLLAMA_LLAMA_CPP_COMPAT_PATCH_COMMAND
    ${CMAKE_COMMAND}
        -DPATCH_DIR=${_compat_dir}
        -P ${_compat_dir}/apply-patch.cmake
    CACHE INTERNAL "llama.cpp compat patch command")
set(OLLAMA_LLAMA_CPP_COMPAT_DIR "${_compat_dir}" CACHE INTERNAL "compat sources")
"""

# Idempotent, like Ollama's: a patch that reverses cleanly is already applied.
APPLY_PATCH = """\
if(NOT DEFINED PATCH_DIR)
    message(FATAL_ERROR "apply-patch.cmake: PATCH_DIR not set")
endif()
find_package(Git QUIET REQUIRED)
get_filename_component(_workdir "." ABSOLUTE)
get_filename_component(_ceiling "${_workdir}" DIRECTORY)
file(GLOB_RECURSE _patches "${PATCH_DIR}/*.patch")
list(SORT _patches)
foreach(_patch IN LISTS _patches)
    execute_process(
        COMMAND ${CMAKE_COMMAND} -E env GIT_CEILING_DIRECTORIES=${_ceiling}
            ${GIT_EXECUTABLE} apply --reverse --check "${_patch}"
        RESULT_VARIABLE _reverse OUTPUT_QUIET ERROR_QUIET)
    if(_reverse EQUAL 0)
        message(STATUS "llama/compat: ${_patch} already applied, skipping")
        continue()
    endif()
    execute_process(
        COMMAND ${CMAKE_COMMAND} -E env GIT_CEILING_DIRECTORIES=${_ceiling}
            ${GIT_EXECUTABLE} apply --whitespace=nowarn "${_patch}"
        RESULT_VARIABLE _result)
    if(NOT _result EQUAL 0)
        message(FATAL_ERROR "llama/compat: failed to apply ${_patch}")
    endif()
    message(STATUS "llama/compat: applied ${_patch}")
endforeach()
"""

GO_FILES = {
    "go.mod": "module github.com/ollama/ollama\n\ngo 1.22\n",
    "version/version.go": 'package version\n\nvar Version string = "0.0.0"\n',
    "server/routes.go": (
        'package server\n\nvar mode string = "debug"\n\nfunc Mode() string { return mode }\n'
    ),
    "discover/native_probe_linux.go": textwrap.dedent(
        """\
        package discover

        // int native_probe(void) { return 7; }
        import "C"

        func Probe() int { return int(C.native_probe()) }
        """
    ),
    "main.go": textwrap.dedent(
        """\
        package main

        import (
            "fmt"

            "github.com/ollama/ollama/discover"
            "github.com/ollama/ollama/server"
            "github.com/ollama/ollama/version"
        )

        func main() {
            fmt.Printf("version=%s\\nmode=%s\\ncgo=%d\\n",
                version.Version, server.Mode(), discover.Probe())
        }
        """
    ),
}


def write_g5_fixture(root: Path, patch: str, *, tag: str = "v0.32.2", pin: str = "b100") -> Path:
    """An Ollama G5 tree at ``root`` pinning llama.cpp ``pin``, committed and tagged ``tag``."""
    files = {
        "CMakeLists.txt": ROOT_CMAKE,
        "cmake/local.cmake": LOCAL_CMAKE.replace("@NOWHERE@", NOWHERE).replace(
            "@MODE@", "-X=github.com/ollama/ollama/server.mode=release"
        ),
        "LLAMA_CPP_VERSION": pin + "\n",
        "llama/server/CMakeLists.txt": SERVER_CMAKE.replace("@NOWHERE@", NOWHERE),
        "llama/server/CMakePresets.json": _server_presets(),
        "llama/compat/compat.cmake": COMPAT_CMAKE,
        "llama/compat/apply-patch.cmake": APPLY_PATCH,
        "llama/compat/001-llama-cpp-hooks.patch": patch,
        "llama/compat/llama-ollama-compat.h": "const char *llama_ollama_compat_status(void);\n",
        "llama/compat/llama-ollama-compat.cpp": (
            '#include "llama-ollama-compat.h"\n'
            'const char *llama_ollama_compat_status(void) { return "ollama-compat"; }\n'
        ),
        **GO_FILES,
    }
    _write(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"fixture G5 {tag}")
    git(root, "tag", "-a", tag, "-m", tag)
    return root
