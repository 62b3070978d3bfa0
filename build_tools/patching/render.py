"""Turn a series' files into patch text: ``.patch`` verbatim, ``.patch.j2`` through Jinja2.

Templates see a small dictionary built from the architecture plan (``template_context``), with
``StrictUndefined``: a variable the template uses but the context lacks is an error naming it,
never an empty string silently baked into Go code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2

from build_tools.errors import PatchError

if TYPE_CHECKING:
    from build_tools.generations import OllamaVersion
    from build_tools.patching.series import Series
    from build_tools.planning.arch_plan import ArchPlan

__all__ = ["PREVIEW_CONTEXT", "RenderedPatch", "render_series", "template_context"]

# Used by `patches check` and `patches list`, which have no plan: applicability does not depend
# on the values (templates only put them inside lines), only a build's sha256 does.
PREVIEW_CONTEXT: dict[str, Any] = {
    "min_cc_major": 0,
    "min_cc_minor": 0,
    "cuda_architectures": "",
}


@dataclass(frozen=True, kw_only=True)
class RenderedPatch:
    series: str
    name: str  # file name without .j2
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.series}/{self.name}"


def template_context(plan: ArchPlan) -> dict[str, Any]:
    """What templates may use: the lowest planned compute capability and the arch list."""
    lowest = plan.lowest
    return {
        "min_cc_major": lowest.major,
        "min_cc_minor": lowest.minor,
        "cuda_architectures": plan.cuda_architectures,
    }


def _environment() -> jinja2.Environment:
    # Patches are not HTML: escaping would corrupt them. Trailing newlines matter to git apply.
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701
    )


def render_series(
    series: Series, context: dict[str, Any], version: OllamaVersion | None = None
) -> list[RenderedPatch]:
    """The series' patches for a tree at ``version`` (see ``Series.files_for``), rendered."""
    rendered: list[RenderedPatch] = []
    for path in series.files_for(version):
        text = path.read_text(encoding="utf-8")
        name = path.name
        if name.endswith(".j2"):
            name = name.removesuffix(".j2")
            try:
                text = _environment().from_string(text).render(**context)
            except jinja2.TemplateSyntaxError as error:
                raise PatchError(
                    f"template {path} line {error.lineno}: {error.message}",
                    series=series.name,
                    patch=path.name,
                    hint="fix the series' template",
                ) from None
            except jinja2.UndefinedError as error:
                raise PatchError(
                    f"template {path} uses an undefined variable: {error.message}",
                    series=series.name,
                    patch=path.name,
                    hint="templates may use: " + ", ".join(sorted(context)),
                ) from None
        rendered.append(RenderedPatch(series=series.name, name=name, text=text))
    return rendered
