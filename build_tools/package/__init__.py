"""Release artifacts of a build: reproducible tarball and wheel, manifest.json, SHA256SUMS.

``package_build`` is the entry point the build calls once the audit passed; its options are
``settings.groups.PackageSettings``.
"""

from __future__ import annotations

from build_tools.package.release import Artifact, PackageResult, package_build

__all__ = [
    "Artifact",
    "PackageResult",
    "package_build",
]
