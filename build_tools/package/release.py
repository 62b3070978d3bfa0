"""Package an audited staging tree: tarball and/or wheel, manifest, SHA256SUMS.

The build calls :func:`package_build` after the audit passed. The staging tree is read once
(``scan_tree`` hashes every file, or takes the hash remembered for a file whose facts did not
change: ``facts.HashCache``); every artifact is then written from that one list. An artifact
whose manifest is unchanged is not written again: it is up to date in ``dist_dir`` or linked
there from another dist directory (``reuse``).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from build_tools.console import reporter
from build_tools.facts import HashCache, digest
from build_tools.package.checksums import parse_sums, update_sums
from build_tools.package.manifest import build_manifest, manifest_bytes, write_manifest
from build_tools.package.naming import artifact_stem, go_arch, pep440_version, wheel_local_label
from build_tools.package.reuse import ArtifactIndex, place_copy
from build_tools.package.staging import scan_tree
from build_tools.package.tarball import tarball_suffix, write_tarball
from build_tools.package.toolchain import toolchain_versions
from build_tools.package.wheel import WheelSpec, wheel_filename, write_wheel
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
    # "written", "up to date" (already in dist_dir), "linked"/"copied" (from another dist dir)
    how: str = "written"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "how": self.how,
        }


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


def _artifact(kind: ArtifactKind, path: Path, hashes: HashCache, how: str = "written") -> Artifact:
    return Artifact(
        kind=kind, path=path, sha256=hashes.sha256(path), size=path.stat().st_size, how=how
    )


def _still_current(dest: Path, manifest_path: Path, manifest: bytes, hashes: HashCache) -> bool:
    """An archive written from exactly this manifest's inputs, and unmodified since."""
    sums_path = dest.parent / "SHA256SUMS"
    if not (dest.is_file() and manifest_path.is_file() and sums_path.is_file()):
        return False
    if manifest_path.read_bytes() != manifest:
        return False
    return parse_sums(sums_path.read_text()).get(dest.name) == hashes.sha256(dest)


def _reuse_or_write(
    kind: ArtifactKind,
    dest: Path,
    write: Callable[[], Path],
    *,
    manifest_path: Path,
    manifest: bytes,
    hashes: HashCache,
    index: ArtifactIndex,
) -> Artifact:
    """``dest`` as it is when current, else linked from an identical earlier one, else
    written. Same manifest (tree, toolchain, plan, epoch) and same name (format, compression)
    means the same bytes, so nothing is compressed twice."""
    manifest_digest = digest(manifest.decode())
    if _still_current(dest, manifest_path, manifest, hashes):
        reporter.info(f"{dest.name} is up to date")
        how = "up to date"
    elif (found := index.find(dest.name, manifest_digest, besides=dest)) is not None:
        source, sha256 = found
        how = place_copy(source, dest)
        hashes.remember(dest, sha256)
        reporter.info(f"{dest.name}: {how} from {source.parent} (same manifest, not re-packed)")
    else:
        with reporter.step(f"Write {dest.name}"):
            written = write()
        assert written == dest, "the writer names its file as the caller expects"
        how = "written"
    artifact = _artifact(kind, dest, hashes, how)
    index.record(dest, manifest_digest)
    return artifact


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
    hashes: HashCache | None = None,
    artifact_index: Path | None = None,
) -> PackageResult:
    """Write the packages of ``plan.staging_dir`` into ``dist_dir``; see the module docstring.

    ``source_date_epoch`` None means the source commit's time; ``machine`` defaults to this
    host's (the tool builds natively). ``hashes`` remembers file hashes between runs and
    ``artifact_index`` where each artifact was written (both kept in the work directory).
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
    hashes = hashes if hashes is not None else HashCache(dist_dir / ".no-hash-cache")
    index = ArtifactIndex(
        artifact_index if artifact_index is not None else dist_dir / ".no-index", hashes
    )
    with reporter.step("Hash the staging tree"):
        entries = scan_tree(staging, hashes)
    manifest = build_manifest(
        plan,
        audits=audits,
        toolchain=toolchain_versions(plan, runner),
        entries=entries,
        source_date_epoch=epoch,
    )
    manifest_path = dist_dir / f"{stem}.manifest.json"
    written = manifest_bytes(manifest)

    def reuse(kind: ArtifactKind, dest: Path, write: Callable[[], Path]) -> Artifact:
        return _reuse_or_write(
            kind,
            dest,
            write,
            manifest_path=manifest_path,
            manifest=written,
            hashes=hashes,
            index=index,
        )

    artifacts: list[Artifact] = []
    if "tar" in formats:
        dest = dist_dir / (stem + tarball_suffix(compress))
        artifacts.append(
            reuse(
                "tar",
                dest,
                lambda: write_tarball(
                    entries, staging, dest, compress=compress, epoch=epoch, runner=runner
                ),
            )
        )
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
        artifacts.append(
            reuse(
                "wheel",
                dist_dir / wheel_filename(spec),
                lambda: write_wheel(entries, staging, dist_dir, spec),
            )
        )

    artifacts.append(_artifact("manifest", write_manifest(manifest, manifest_path), hashes))
    sums = update_sums(dist_dir, {a.path.name: a.sha256 for a in artifacts})
    artifacts.append(_artifact("sha256sums", sums, hashes))
    index.save()
    hashes.save()
    return PackageResult(
        dist_dir=dist_dir,
        stem=stem,
        source_date_epoch=epoch,
        artifacts=tuple(artifacts),
        seconds=time.monotonic() - started,
    )
