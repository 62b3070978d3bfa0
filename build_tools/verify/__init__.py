"""``verify``: run a built Ollama, serve a tiny generated model, report the devices it used.

Modules: :mod:`.gguf_model` (the model), :mod:`.server` (isolated ``ollama serve``),
:mod:`.client` (HTTP API), :mod:`.logparse` (per-device decisions in the log), :mod:`.report`
(comparison with the plan's coverage), :mod:`.session` (one run), :mod:`.unpack` (tarballs),
:mod:`.show` (console output).
"""

from __future__ import annotations

from build_tools.verify.report import GpuCheck, VerifyReport
from build_tools.verify.session import Expectation, run_verification, verify_install

__all__ = ["Expectation", "GpuCheck", "VerifyReport", "run_verification", "verify_install"]
