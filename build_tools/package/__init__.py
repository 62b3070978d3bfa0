"""Release artifacts of a build: reproducible tarball and wheel, manifest.json, SHA256SUMS.

``package_build`` is the entry point the build calls once the audit passed;
``add_package_arguments`` / ``package_options_from_args`` are its command-line side.
"""

from __future__ import annotations

from build_tools.package.options import (
    FORMATS,
    Format,
    PackageOptions,
    add_package_arguments,
    package_options_from_args,
)
from build_tools.package.release import Artifact, PackageResult, package_build
from build_tools.package.tarball import Compression

__all__ = [
    "FORMATS",
    "Artifact",
    "Compression",
    "Format",
    "PackageOptions",
    "PackageResult",
    "add_package_arguments",
    "package_build",
    "package_options_from_args",
]
