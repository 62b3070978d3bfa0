"""Audit of the device code in built CUDA libraries and of the installs and tarballs holding it.

``fatbin`` parses the ELF ``.nv_fatbin`` section (pure Python, nothing executed), ``compare``
checks it against the architecture plan, ``runtime_links`` checks that shipped libraries load
the CUDA runtime from inside the package, ``tree`` finds CUDA libraries in an install directory
or tarball, ``layout`` reads which backends and generation that install holds, ``cuobjdump``
cross-checks the parser with NVIDIA's tool.
"""

from __future__ import annotations

from build_tools.audit.compare import ArchComparison, check_archs, compare_archs
from build_tools.audit.fatbin import FatbinEntry, LibraryAudit, parse_fatbin, read_library
from build_tools.audit.install import audit_go_binary, audit_install
from build_tools.audit.runtime_links import RuntimeLink, audit_runtime_links
from build_tools.errors import AuditError, UnreadableArtifactError

__all__ = [
    "ArchComparison",
    "AuditError",
    "FatbinEntry",
    "LibraryAudit",
    "RuntimeLink",
    "UnreadableArtifactError",
    "audit_go_binary",
    "audit_install",
    "audit_runtime_links",
    "check_archs",
    "compare_archs",
    "parse_fatbin",
    "read_library",
]
