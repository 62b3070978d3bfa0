"""Typed errors, each with the exit code the CLI returns for it.

Errors are raised anywhere and caught only in ``build_tools.__main__.main``. They derive from
``Exception`` but carry an ``exit_code``; ``main`` prints ``message`` (and ``hint``) on one line
each and exits with that code. Exit codes are part of the CLI contract: :data:`EXIT_CODES`,
made from the classes below, is the one table that ``--help`` prints and the README repeats (a
test keeps the two equal).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "EXIT_CODES",
    "AuditError",
    "BuildToolsError",
    "CommandFailedError",
    "CommandTimedOutError",
    "ConfigurationError",
    "InputError",
    "InventoryError",
    "NotReproducibleError",
    "PatchError",
    "PlanError",
    "RoutingError",
    "SourceError",
    "ToolNotFoundError",
    "ToolkitError",
    "UnknownLayoutError",
    "UnreadableArtifactError",
    "UnsupportedGenerationError",
    "UpstreamSurpriseError",
    "ValidationHoleError",
    "VerifyError",
]


class BuildToolsError(Exception):
    """Base of every error the tool reports to the user."""

    exit_code: int = 1
    meaning = "internal error (a bug: please report with `--debug` output)"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class ConfigurationError(BuildToolsError):
    """Bad command line, option value or configuration file."""

    exit_code = 2
    meaning = "usage or configuration error (bad option value, unknown arch token)"


class PlanError(BuildToolsError):
    """The requested architectures cannot be built: empty plan, arch unsupported by the toolkit."""

    exit_code = 3
    meaning = (
        "the plan cannot be built (empty, an arch the toolkit cannot compile, or a CUDA version "
        "the driver cannot run)"
    )


class InventoryError(BuildToolsError):
    """An inventory file could not be read or parsed."""

    exit_code = 4
    meaning = "inventory file unreadable or malformed"


class ToolNotFoundError(BuildToolsError):
    """A required program (nvcc, cmake, go, apt-get ...) is missing or too old."""

    exit_code = 5
    meaning = "a required program is missing"


class ToolkitError(BuildToolsError):
    """A CUDA toolkit could not be installed, found or verified."""

    exit_code = 6
    meaning = "CUDA toolkit could not be installed, found or verified"


class ValidationHoleError(PlanError):
    """The Ollama ref never validates CUDA GPUs, so excluded GPUs cannot be kept out."""


class AuditError(BuildToolsError):
    """The compiled device code differs from the plan."""

    exit_code = 7
    meaning = "audit: the compiled device code differs from the plan"


class InputError(BuildToolsError):
    """A source, tree, library or archive is not what it should be."""

    exit_code = 8
    meaning = (
        "unreadable input: source cannot be fetched or has local changes, unknown tree layout, "
        "unreadable library or archive"
    )


class SourceError(InputError):
    """The Ollama source could not be fetched or checked out, or has local changes."""


class UnknownLayoutError(InputError):
    """A source tree matches no known Ollama build generation."""


class UnreadableArtifactError(InputError):
    """A file, library or tarball could not be read as what it claims to be."""


class UnsupportedGenerationError(BuildToolsError):
    """A known Ollama generation that this version cannot build yet."""

    exit_code = 9
    meaning = "this Ollama generation cannot be built by this version yet"


class CommandFailedError(BuildToolsError):
    """A subprocess exited non-zero. Carries the tail of its output and the full log's path."""

    exit_code = 10
    meaning = "a build command failed (its last 40 lines and log path are printed)"

    def __init__(
        self,
        message: str,
        *,
        argv: tuple[str, ...],
        returncode: int,
        output_tail: str,
        log_path: Path | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.argv = argv
        self.returncode = returncode
        self.output_tail = output_tail
        self.log_path = log_path


class CommandTimedOutError(CommandFailedError):
    """A program did not answer within its time limit; it was stopped with all it started."""


class VerifyError(BuildToolsError):
    """The built Ollama did not start, load the test model or generate, or used other GPUs
    than the plan promised (``verify``, ``build --verify``)."""

    exit_code = 13
    meaning = (
        "verify: the built Ollama failed to run or used other GPUs than planned; deploy verify: "
        "a request reached the wrong instance"
    )


class RoutingError(VerifyError):
    """``deploy verify``: a request for a model reached another instance than its group's."""


class PatchError(BuildToolsError):
    """A patch series cannot be applied; the source tree was left exactly as it was.

    Names the patch, its series, and where git gave up (file and hunk), when known.
    """

    exit_code = 11
    meaning = (
        "a patch does not apply (the tree is restored; the message names patch, file and hunk)"
    )

    def __init__(
        self,
        message: str,
        *,
        series: str | None = None,
        patch: str | None = None,
        file: str | None = None,
        hunk: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.series = series
        self.patch = patch
        self.file = file
        self.hunk = hunk


class NotReproducibleError(BuildToolsError):
    """Two builds of the same inputs differ (``verify-reproducible``)."""

    exit_code = 14
    meaning = "verify-reproducible: two builds of the same inputs differ"


class UpstreamSurpriseError(BuildToolsError):
    """``upstream check``: a release tag newer than the registry is not what this version
    expects (tree not recognised, stock lists changed, or a patch series no longer applies)."""

    exit_code = 12
    meaning = (
        "upstream check: a new Ollama tag is a surprise (unrecognised tree, changed stock lists "
        "or a patch series that no longer applies)"
    )


def _exit_codes() -> dict[int, str]:
    table = {0: "success"}
    pending: list[type[BuildToolsError]] = [BuildToolsError]
    while pending:
        cls = pending.pop()
        table.setdefault(cls.exit_code, cls.meaning)
        pending.extend(cls.__subclasses__())
    table[130] = "interrupted"
    return dict(sorted(table.items()))


# Exit code -> what it means; subclasses that keep their parent's code share its meaning.
EXIT_CODES: dict[int, str] = _exit_codes()
