"""The few Ollama HTTP API calls verify needs, with the standard library only.

Creating a model from a local GGUF file (read from the API types and handlers of each tag):

* v0.5.5 and later (``api/types.go`` ``CreateRequest.Files``; v0.6.8 ``server/create.go``):
  ``POST /api/blobs/sha256:<hex>`` with the file as body (201 Created), then
  ``POST /api/create {"model": NAME, "files": {"tiny.gguf": "sha256:<hex>"}, "stream": false}``.
* v0.4.0 - v0.5.4 had no ``files``: the same blob upload, then a Modelfile that names it,
  ``{"model": NAME, "modelfile": "FROM @sha256:<hex>"}`` (what ``ollama create`` sent then).

Generation: ``POST /api/generate`` with ``stream: false`` and ``raw: true`` (no prompt template:
the tiny model has none) answers one JSON object whose ``response`` is the completion.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from build_tools.errors import VerifyError

if TYPE_CHECKING:  # numpy and gguf stay off the CLI's startup path
    from build_tools.verify.gguf_model import TinyModel

__all__ = ["Completion", "OllamaClient", "uses_files_api"]


def uses_files_api(version: str) -> bool:
    """Whether ``/api/create`` takes ``files`` (v0.5.5+) rather than a Modelfile."""
    core = version.lstrip("v").split("-")[0].split("+")[0]
    try:
        numbers = tuple(int(part) for part in core.split(".")[:3])
    except ValueError:
        return True  # a dev build ("0.0.0" is handled below) or an odd string: assume recent
    return numbers == (0, 0, 0) or numbers >= (0, 5, 5)


@dataclass(frozen=True, kw_only=True)
class Completion:
    text: str
    done_reason: str | None
    eval_count: int | None
    load_seconds: float | None
    total_seconds: float | None


def _seconds(value: Any) -> float | None:
    return value / 1e9 if isinstance(value, int | float) else None  # durations are nanoseconds


class OllamaClient:
    def __init__(self, base_url: str, *, timeout: float) -> None:
        if not base_url.startswith("http://"):
            raise ValueError(f"expected an http:// URL, got {base_url}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(
        self, method: str, path: str, *, body: bytes | None = None, json_body: Any = None
    ) -> Any:
        headers = {}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only, checked above
            self.base_url + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                text = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace").strip()
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(json.loads(detail).get("error", detail))
            raise VerifyError(
                f"{method} {path} answered HTTP {error.code}: {detail}",
                hint="see the server log named below for the cause",
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise VerifyError(
                f"{method} {path} failed: {reason}",
                hint="the server may have crashed or be too slow; raise --timeout or read its log",
            ) from None
        if not text.strip():
            return {}
        try:
            return json.loads(text.strip().splitlines()[-1])  # a stream's last line is final
        except json.JSONDecodeError:
            raise VerifyError(
                f"{method} {path} answered something that is not JSON: {text[:200]!r}"
            ) from None

    def version(self) -> str:
        data = self._request("GET", "/api/version")
        return str(data.get("version", ""))

    def push_blob(self, model: TinyModel) -> None:
        self._request("POST", f"/api/blobs/sha256:{model.sha256}", body=model.path.read_bytes())

    def create(self, name: str, model: TinyModel, *, server_version: str) -> None:
        request: dict[str, Any] = {"model": name, "stream": False}
        if uses_files_api(server_version):
            request["files"] = {model.path.name: f"sha256:{model.sha256}"}
        else:
            request |= {"name": name, "modelfile": f"FROM @sha256:{model.sha256}\n"}
        data = self._request("POST", "/api/create", json_body=request)
        if "error" in data:
            raise VerifyError(f"POST /api/create failed: {data['error']}")

    def generate(self, name: str, prompt: str, *, num_predict: int = 8) -> Completion:
        data = self._request(
            "POST",
            "/api/generate",
            json_body={
                "model": name,
                "prompt": prompt,
                "raw": True,
                "stream": False,
                "options": {"num_predict": num_predict, "temperature": 0, "seed": 0},
            },
        )
        if "error" in data:
            raise VerifyError(f"POST /api/generate failed: {data['error']}")
        return Completion(
            text=str(data.get("response", "")),
            done_reason=data.get("done_reason"),
            eval_count=data.get("eval_count"),
            load_seconds=_seconds(data.get("load_duration")),
            total_seconds=_seconds(data.get("total_duration")),
        )
