"""``deploy``: one Ollama per GPU group, each built for its own GPUs, behind one endpoint.

Modules: :mod:`.plan` (groups, per-group arch plan, toolkit, port, models), :mod:`.build` (one
pipeline build per group, installed into its own prefix), :mod:`.systemd`, :mod:`.compose` and
:mod:`.routers` (the rendered files), :mod:`.hostcheck` (an existing ollama.service and
drop-ins that would override the units), :mod:`.manifest` (``deploy.json``, what render wrote
and verify reads), :mod:`.unitfile` (reading a rendered unit back), :mod:`.render` (writing a
rendering), :mod:`.check` (``deploy verify``: the instances and the real router on loopback).
"""
