#!/usr/bin/env bash
# The CI entry point: build one profile into ./dist (tarball, manifest, SHA256SUMS).
#   ci/build.sh PROFILE [more build options...]
# Profiles come from $BUILD_TOOLS_PROFILES_FILE (default: ollama-build.toml beside this
# script). Installs nothing: the tool, Go and a compiler cache must already be on PATH, and
# the tool installs its pinned CUDA toolkit into its own cache.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 PROFILE [build options...]" >&2
    exit 2
fi
profile=$1
shift
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
profiles_file=${BUILD_TOOLS_PROFILES_FILE:-$here/ollama-build.toml}

exec "${PYTHON:-python}" -m build_tools build \
    --profiles-file "$profiles_file" \
    --profile "$profile" \
    --dist-dir "${DIST_DIR:-dist}" \
    "$@"
