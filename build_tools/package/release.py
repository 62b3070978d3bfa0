"""Package an audited staging tree: tarball and/or wheel, manifest, SHA256SUMS.

The build calls :func:`package_build` after the audit passed. The staging tree is read once
(``scan_tree`` hashes every file); every artifact is then written from that one list.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from build_tools.console import reporter
from build_tools.files import sha256_file
from build_tools.package.checksums import parse_sums, update_sums
from build_tools.package.manifest import build_manifest, manifest_bytes, write_manifest
from build_tools.package.naming import artifact_stem, go_arch, pep440_version, wheel_local_label
from build_tools.package.staging import scan_tree
from build_tools.package.tarball import tarball_suffix, write_tarball
from build_tools.package.toolchain import toolchain_versions
from build_tools.package.wheel import WheelSpec, write_wheel
from build_tools.planning.archs import render_cmake
from build_tools.runner import Runner
from build_tools.settings.groups import Compression, PackageFormat

if TYPE_CHECKING:
    from build_tools.audit import ArchComparison
    from build_tools.build_plan import BuildPlan

__all__ = ["Artifact", "PackageResult", "package_build"]

ArtifactKind = Literal["tar", "wheel", "manifest", "sha256sums"]


@dataclass(frozen=True, kw_only=True)
class Artifact:
    kind: ArtifactKind
    path: Path
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, kw_only=True)
class PackageResult:
    dist_dir: Path
    stem: str
    source_date_epoch: int
    artifacts: tuple[Artifact, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "dist_dir": str(self.dist_dir),
            "name": self.stem,
            "source_date_epoch": self.source_date_epoch,
            "artifacts": [a.to_json() for a in self.artifacts],
        }


def _artifact(kind: ArtifactKind, path: Path) -> Artifact:
    return Artifact(kind=kind, path=path, sha256=sha256_file(path), size=path.stat().st_size)


def _still_current(dest: Path, manifest_path: Path, manifest: bytes) -> bool:
    """An archive written from exactly this manifest's inputs, and unmodified since."""
    sums_path = dest.parent / "SHA256SUMS"
    if not (dest.is_file() and manifest_path.is_file() and sums_path.is_file()):
        return False
    if manifest_path.read_bytes() != manifest:
        return False
    return parse_sums(sums_path.read_text()).get(dest.name) == sha256_file(dest)


def package_build(
    plan: BuildPlan,
    audits: Sequence[ArchComparison],
    *,
    formats: Sequence[PackageFormat],
    compress: Compression,
    dist_dir: Path,
    source_date_epoch: int | None,
    runner: Runner,
    machine: str | None = None,
) -> PackageResult:
    """Write the packages of ``plan.staging_dir`` into ``dist_dir``; see the module docstring.

    ``source_date_epoch`` None means the source commit's time; ``machine`` defaults to this
    host's (the tool builds natively).
    """
    started = time.monotonic()
    epoch = plan.checkout.commit_time if source_date_epoch is None else source_date_epoch
    machine = machine or platform.machine()
    archs, major = plan.arch_plan.archs, plan.toolkit.major
    with_vulkan = plan.options.with_vulkan
    stem = artifact_stem(
        plan.checkout.version, go_arch(machine), major, archs, with_vulkan=with_vulkan
    )
    if runner.dry_run:
        runner.out.info(
            f"would package {plan.staging_dir} as {dist_dir / stem}.* ({', '.join(formats)})"
        )
        return PackageResult(
            dist_dir=dist_dir, stem=stem, source_date_epoch=epoch, artifacts=(), seconds=0.0
        )

    staging = plan.staging_dir
    with reporter.step("Hash the staging tree"):
        entries = scan_tree(staging)
    manifest = build_manifest(
        plan,
        audits=audits,
        toolchain=toolchain_versions(plan, runner),
        entries=entries,
        source_date_epoch=epoch,
    )
    manifest_path = dist_dir / f"{stem}.manifest.json"
    artifacts: list[Artifact] = []
    if "tar" in formats:
        dest = dist_dir / (stem + tarball_suffix(compress))
        if _still_current(dest, manifest_path, manifest_bytes(manifest)):
            # Same tree, same toolchain, same plan and epoch: the archive would come out byte
            # for byte the same, so an unchanged re-run does not spend a minute in gzip.
            reporter.info(f"{dest.name} is up to date")
        else:
            with reporter.step(f"Write {dest.name}"):
                write_tarball(entries, staging, dest, compress=compress, epoch=epoch, runner=runner)
        artifacts.append(_artifact("tar", dest))
    if "wheel" in formats:
        public, commit = pep440_version(plan.checkout.describe)
        local = wheel_local_label(major, archs, commit=commit, with_vulkan=with_vulkan)
        spec = WheelSpec(
            version=f"{public}+{local}",
            platform_tag=f"linux_{machine}",
            summary=f"Ollama {plan.checkout.version} for CUDA {plan.toolkit.version} "
            f"({render_cmake(archs)}), built by ollama-build-tools",
            epoch=epoch,
        )
        with reporter.step(f"Write the wheel ({spec.version})"):
            wheel = write_wheel(entries, staging, dist_dir, spec)
        artifacts.append(_artifact("wheel", wheel))

    artifacts.append(_artifact("manifest", write_manifest(manifest, manifest_path)))
    sums = update_sums(dist_dir, {a.path.name: a.sha256 for a in artifacts})
    artifacts.append(_artifact("sha256sums", sums))
    return PackageResult(
        dist_dir=dist_dir,
        stem=stem,
        source_date_epoch=epoch,
        artifacts=tuple(artifacts),
        seconds=time.monotonic() - started,
    )
