# Build only the ggml CPU variants in BUILD_TOOLS_CPU_VARIANTS (a CMake list such as
# "x64;haswell"); ollama-build-tools passes this file as CMAKE_PROJECT_INCLUDE (--cpu-variants).
#
# ggml ties each variant to the build through add_dependencies(): `ggml-cpu` depends on every
# ggml-cpu-<variant> (Ollama v0.5.8 - v0.25: the CPU install component is that dependency list,
# MANUALLY_ADDED_DEPENDENCIES), and with GGML_BACKEND_DL `ggml` depends on every backend module
# (llama.cpp, G5: building llama-server builds them all; the install globs what was built).
# No cache variable selects variants, so the dependency on each variant left out is dropped
# here: it is then neither built by those targets nor installed. Everything else passes through.
include_guard(GLOBAL)

if(NOT DEFINED BUILD_TOOLS_CPU_VARIANTS OR "${BUILD_TOOLS_CPU_VARIANTS}" STREQUAL "")
    return()
endif()
message(STATUS "ollama-build-tools: ggml CPU variants ${BUILD_TOOLS_CPU_VARIANTS}")

function(add_dependencies target)
    set(_kept)
    foreach(_dependency IN LISTS ARGN)
        if(_dependency MATCHES "^ggml-cpu-(.+)$")
            list(FIND BUILD_TOOLS_CPU_VARIANTS "${CMAKE_MATCH_1}" _wanted)
            if(_wanted EQUAL -1)
                continue()
            endif()
        endif()
        list(APPEND _kept "${_dependency}")
    endforeach()
    if(_kept)
        _add_dependencies("${target}" ${_kept})
    endif()
endfunction()
