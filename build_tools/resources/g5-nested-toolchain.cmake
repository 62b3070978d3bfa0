# Read by the nested llama-server builds of a G5 superbuild through $CMAKE_TOOLCHAIN_FILE
# (ollama-build-tools sets it; the superbuild forwards only GGML_* and LLAMA_* variables).
#
# Link with the install RPATH: otherwise the build-tree RPATH, a work-directory path, is hashed
# into the GNU build ID at link time and survives the RPATH rewrite at install, so two clean
# builds in different work directories would differ (the G3/G4 recipe passes the same -D).
set(CMAKE_BUILD_WITH_INSTALL_RPATH ON)
