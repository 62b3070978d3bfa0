"""What a command is, as data: its name, texts, settings and where its implementation lives.

The parser is made from these specs and the settings' option declarations; a command's module is
imported only when that command runs, so ``plan`` never loads the build pipeline.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from build_tools.runner import Runner
    from build_tools.settings.declare import ResolvedOptions

__all__ = ["Command", "Context", "Handler"]


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a command's ``run`` gets besides its settings."""

    runner: Runner
    json: bool  # machine output on stdout, nothing else there
    environ: Mapping[str, str]  # read once in main(); commands pass it on, never os.environ
    options: ResolvedOptions  # every setting's value and source (CI step summary)


class Handler(Protocol):
    def __call__(self, settings: Any, context: Context, /) -> int: ...


@dataclass(frozen=True, kw_only=True)
class Command:
    name: str
    help: str  # one line in the parent's command list
    description: str | None = None
    epilog: str | None = None
    # "module:Class" of the settings dataclass its options come from, imported on use: a run
    # builds the options of its own command only, so `plan` never loads `deploy`'s settings.
    settings: str | None = None
    handler: str | None = None  # "module:function", imported on use
    json: bool = False  # takes --json
    profiles: bool = False  # takes --profile/--profiles-file/--show-options
    children: tuple[Command, ...] = ()  # sub-actions (toolkit install|list|remove ...)
    child_title: str = "ACTION"

    def settings_type(self) -> type | None:
        """The settings dataclass (imported now), or None for a command with sub-actions."""
        if self.settings is None:
            return None
        module, _, name = self.settings.partition(":")
        found: type = getattr(importlib.import_module(module), name)
        return found

    def load(self) -> Callable[[Any, Context], int]:
        assert self.handler is not None, f"{self.name} has sub-actions, not a handler"
        module, _, function = self.handler.partition(":")
        handler: Callable[[Any, Context], int] = getattr(importlib.import_module(module), function)
        return handler
