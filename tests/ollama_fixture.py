"""Miniature Ollama source trees in the G3/G4 layout, written for this project's tests.

They reproduce what the build tool relies on - CMakePresets.json with CPU / CUDA 12 / CUDA 13
presets, a root CMakeLists.txt with check_language(CUDA) and the CPU/CUDA install components, a
base library, CPU variants, a CUDA library with one kernel that links cudart, cuBLAS and the
driver API, and a Go main module `github.com/ollama/ollama` with the -X variables of the real
one - small enough to build in seconds. Each tree is a git repository with a release tag.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

CUDA12_STOCK = "50;52;60;61;70;75;80;86;89;90;90a;120"
CUDA13_STOCK = "75-virtual;80-virtual;86-virtual;90-virtual;100-virtual;120-virtual"


def _presets(runner_dir_in_presets: bool) -> str:
    def cuda(major: int, archs: str) -> dict[str, object]:
        variables = {
            "CMAKE_CUDA_ARCHITECTURES": archs,
            "CMAKE_CUDA_FLAGS": "-Wno-deprecated-gpu-targets",
        }
        if runner_dir_in_presets:
            variables["OLLAMA_RUNNER_DIR"] = f"cuda_v{major}"
        return {"name": f"CUDA {major}", "inherits": ["CUDA"], "cacheVariables": variables}

    data = {
        "version": 3,
        "configurePresets": [
            {
                "name": "Default",
                "binaryDir": "${sourceDir}/build",
                "installDir": "${sourceDir}/dist",
                "cacheVariables": {"CMAKE_BUILD_TYPE": "Release"},
            },
            {"name": "CPU", "inherits": ["Default"]},
            {"name": "CUDA", "inherits": ["Default"]},
            cuda(12, CUDA12_STOCK),
            cuda(13, CUDA13_STOCK),
        ],
        "buildPresets": [
            {"name": "CPU", "configurePreset": "Default", "targets": ["ggml-cpu"]},
            {"name": "CUDA", "configurePreset": "CUDA", "targets": ["ggml-cuda"]},
        ],
    }
    return json.dumps(data, indent=2)


def _cmakelists(generation: str) -> str:
    if generation == "G3":
        # v0.5.8 - v0.9.2: CPU into lib/ollama, CUDA into lib/ollama/cuda_v<toolkit major>.
        install_dirs = textwrap.dedent(
            """\
            set(OLLAMA_INSTALL_DIR ${CMAKE_INSTALL_PREFIX}/lib/ollama)
            set(OLLAMA_CUDA_INSTALL_DIR_TEMPLATE ${OLLAMA_INSTALL_DIR}/cuda_v)
            """
        )
        cuda_dest = "${OLLAMA_CUDA_INSTALL_DIR_TEMPLATE}${CUDAToolkit_VERSION_MAJOR}"
    else:
        # v0.11.11+: one install dir named by OLLAMA_RUNNER_DIR (set by presets from v0.12.10).
        install_dirs = (
            "set(OLLAMA_INSTALL_DIR ${CMAKE_INSTALL_PREFIX}/lib/ollama/${OLLAMA_RUNNER_DIR})\n"
        )
        cuda_dest = "${OLLAMA_INSTALL_DIR}"
    return (
        textwrap.dedent(
            """\
            cmake_minimum_required(VERSION 3.21)
            project(Ollama C CXX)
            include(CheckLanguage)
            set(CMAKE_BUILD_TYPE Release)
            set(OLLAMA_BUILD_DIR ${CMAKE_BINARY_DIR}/lib/ollama)
            """
        )
        + install_dirs
        + textwrap.dedent(
            f"""\
            set(CMAKE_LIBRARY_OUTPUT_DIRECTORY ${{OLLAMA_BUILD_DIR}})
            set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${{OLLAMA_BUILD_DIR}})

            add_library(ggml-base SHARED ggml/base.c)
            target_include_directories(ggml-base PUBLIC ggml)
            # As ggml_add_cpu_backend_variant() does: each variant is a dependency of
            # ggml-cpu, and the CPU component installs that dependency list.
            add_custom_target(ggml-cpu)
            foreach(tag x64 sse42 haswell)
                add_library(ggml-cpu-${{tag}} MODULE ggml/cpu.c)
                target_compile_definitions(ggml-cpu-${{tag}} PRIVATE VARIANT="ggml-cpu-${{tag}}")
                target_link_libraries(ggml-cpu-${{tag}} PRIVATE ggml-base)
                add_dependencies(ggml-cpu ggml-cpu-${{tag}})
            endforeach()
            get_target_property(CPU_VARIANTS ggml-cpu MANUALLY_ADDED_DEPENDENCIES)
            install(TARGETS ggml-base ${{CPU_VARIANTS}}
                RUNTIME_DEPENDENCIES PRE_EXCLUDE_REGEXES ".*"
                RUNTIME DESTINATION ${{OLLAMA_INSTALL_DIR}} COMPONENT CPU
                LIBRARY DESTINATION ${{OLLAMA_INSTALL_DIR}} COMPONENT CPU)

            check_language(CUDA)
            if(CMAKE_CUDA_COMPILER)
                if(CMAKE_VERSION VERSION_GREATER_EQUAL "3.24" AND NOT CMAKE_CUDA_ARCHITECTURES)
                    set(CMAKE_CUDA_ARCHITECTURES "native")
                endif()
                find_package(CUDAToolkit)
                OVERRIDE
                enable_language(CUDA)
                add_library(ggml-cuda SHARED ggml/cuda/kernel.cu)
                target_link_libraries(ggml-cuda PRIVATE ggml-base CUDA::cudart CUDA::cublas
                                      CUDA::cuda_driver)
                install(TARGETS ggml-cuda
                    RUNTIME_DEPENDENCIES
                        DIRECTORIES ${{CUDAToolkit_BIN_DIR}} ${{CUDAToolkit_LIBRARY_DIR}}
                        PRE_INCLUDE_REGEXES cublas cublasLt cudart
                        PRE_EXCLUDE_REGEXES ".*"
                    RUNTIME DESTINATION {cuda_dest} COMPONENT CUDA
                    LIBRARY DESTINATION {cuda_dest} COMPONENT CUDA)
            endif()

            find_package(Vulkan)
            if(Vulkan_FOUND)
                add_library(ggml-vulkan SHARED ggml/cpu.c)
                install(TARGETS ggml-vulkan LIBRARY DESTINATION ${{OLLAMA_INSTALL_DIR}}/vulkan
                        COMPONENT Vulkan)
            endif()
            """
        )
    )


SOURCES = {
    "ggml/ggml.h": "int ggml_base_answer(void);\n",
    # __FILE__, as in ggml's GGML_ASSERT: where the compiler was handed the source path shows
    # in the library unless a prefix map covers the form it was handed.
    "ggml/base.c": (
        '#include "ggml.h"\nint ggml_base_answer(void) { return 42; }\n'
        "const char *ggml_base_file(void) { return __FILE__; }\n"
    ),
    "ggml/cpu.c": textwrap.dedent(
        """\
        #include "ggml.h"
        const char *ggml_cpu_variant(void) { return VARIANT; }
        int ggml_cpu_answer(void) { return ggml_base_answer(); }
        """
    ),
    "ggml/cuda/kernel.cu": textwrap.dedent(
        """\
        #include <cublas_v2.h>
        #include <cuda.h>
        #include <cuda_runtime.h>
        extern "C" int ggml_base_answer(void);

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
        // __FILE__ in device code (ggml's device asserts) and in host code.
        __device__ const char kernel_file[] = __FILE__;
        __global__ void first_char(float *x) { x[0] = kernel_file[0]; }
        extern "C" const char *ggml_cuda_file(void) { return __FILE__; }

        #define STR2(...) #__VA_ARGS__
        #define STR(...) STR2(__VA_ARGS__)
        // What the compiled list looked like to nvcc, as ggml reports it ("ARCHS = ...").
        extern "C" const char *ggml_cuda_arch_list(void) { return STR(__CUDA_ARCH_LIST__); }

        extern "C" int ggml_cuda_probe(void) {
            int driver = 0;
            cuDriverGetVersion(&driver);  // driver API: libcuda.so.1 must be in DT_NEEDED
            cublasHandle_t handle;
            if (cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS) cublasDestroy(handle);
            float *x = nullptr;
            if (cudaMalloc(&x, 4 * sizeof(float)) == cudaSuccess) {
                scale<<<1, 4>>>(x, 2.0f, 4);
                double_all<<<1, 4>>>(x, 4);
                halve<<<1, 4>>>(x, 4);
                first_char<<<1, 1>>>(x);
                cudaFree(x);
            }
            return driver + ggml_base_answer();
        }
        """
    ),
    "version/version.go": 'package version\n\nvar Version string = "0.0.0"\n',
    "server/routes.go": textwrap.dedent(
        """\
        package server

        var mode string = "debug"

        func Mode() string { return mode }
        """
    ),
    "discover/cgo.go": textwrap.dedent(
        """\
        package discover

        // int discover_answer(void) { return 7; }
        import "C"

        func CgoAnswer() int { return int(C.discover_answer()) }
        """
    ),
}

G3_GO = {
    "discover/gpu.go": textwrap.dedent(
        """\
        package discover

        // String variables so that ldflags can override them at build time, as in Ollama.
        var (
            CudaComputeMajorMin = "5"
            CudaComputeMinorMin = "0"
        )

        func Minimum() string { return CudaComputeMajorMin + "." + CudaComputeMinorMin }
        """
    ),
    "discover/gpu_info_cudart.c": "int gpu_info_cudart_present(void) { return 1; }\n",
}

G4_GO = {
    "discover/gpu.go": 'package discover\n\nfunc Minimum() string { return "none" }\n',
    "discover/runner.go": "package discover\n\n// Runner-based bootstrap discovery lives here.\n",
}


def _device_go(validates_cuda: bool) -> str:
    rocm = 'd.Library == "ROCm"'
    check = f'{rocm} || d.Library == "CUDA"' if validates_cuda else rocm
    return (
        "package ml\n\n"
        "type DeviceInfo struct{ Library string }\n\n"
        "func (d DeviceInfo) NeedsInitValidation() bool {\n"
        "\t// Which libraries get the second, per-device discovery pass.\n"
        f"\treturn {check}\n"
        "}\n"
    )


MAIN_GO = textwrap.dedent(
    """\
    package main

    import (
        "fmt"

        "github.com/ollama/ollama/discover"
        "github.com/ollama/ollama/server"
        "github.com/ollama/ollama/version"
    )

    func main() {
        fmt.Printf("version=%s\\nmode=%s\\nminimum=%s\\ncgo=%d\\n",
            version.Version, server.Mode(), discover.Minimum(), discover.CgoAnswer())
    }
    """
)


def write_fixture(
    root: Path,
    *,
    generation: str = "G4",
    tag: str = "v0.24.0",
    validates_cuda: bool = True,
    go_version: str = "1.22",
    override_archs: str | None = None,
) -> Path:
    """Write a fixture tree at ``root``, commit it and tag it; return ``root``.

    ``override_archs`` makes the tree's CMakeLists force its own arch list, ignoring the
    plan - the kind of surprise the post-build audit exists to catch.
    """
    cmakelists = _cmakelists(generation).replace(
        "OVERRIDE",
        f'set(CMAKE_CUDA_ARCHITECTURES "{override_archs}")' if override_archs else "",
    )
    files: dict[str, str] = {
        "CMakePresets.json": _presets(runner_dir_in_presets=generation == "G4"),
        "CMakeLists.txt": cmakelists,
        "go.mod": f"module github.com/ollama/ollama\n\ngo {go_version}\n",
        "main.go": MAIN_GO,
        **SOURCES,
        **(G3_GO if generation == "G3" else G4_GO),
    }
    if generation == "G4":
        files["ml/device.go"] = _device_go(validates_cuda)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(root), *args],
            check=True,
            capture_output=True,
            env={
                "GIT_AUTHOR_NAME": "fixture",
                "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
                "GIT_COMMITTER_NAME": "fixture",
                "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
                "GIT_AUTHOR_DATE": "2025-01-01T00:00:00Z",
                "GIT_COMMITTER_DATE": "2025-01-01T00:00:00Z",
                "PATH": "/usr/bin:/bin",
            },
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", f"fixture {generation} {tag}")
    git("tag", "-a", tag, "-m", tag)
    return root
