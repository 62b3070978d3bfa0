"""Router configurations: one endpoint where a request for model X reaches X's instance.

* **HAProxy** (primary): routes Ollama's native API (``/api/generate``, ``/api/chat``,
  ``/api/show``, ``/api/embed``, ...) and the OpenAI API (``/v1/*``) by the JSON body's
  ``model`` (or ``name``) through ``models.map``; everything else - ``/api/tags``, blob uploads,
  unrouted models - goes to the default group. The whole body must fit in one buffer for the
  model to be read, so a larger body is refused with 413 instead of silently going to the
  default group.
* **LiteLLM proxy** (secondary): the OpenAI API only (no ``/api/*``), one ``model_list`` entry
  per routed model, upstream through LiteLLM's ``ollama_chat/`` provider.
* **Open WebUI**: not a router; advice as an env file. Its own several-URL mode routes by which
  instance lists a model, and with one shared models directory every instance lists every model,
  so it would pick an instance at random.

Names in the map are lower case without ``:latest``, as the HAProxy rules normalise the request;
a name without a tag also routes each of its tags.
"""

from __future__ import annotations

import ipaddress
import json

from build_tools.deploy.plan import DeployPlan, Group
from build_tools.deploy.yaml import dump_yaml

__all__ = [
    "BUFFER_BYTES",
    "LITELLM_PIN",
    "backend_name",
    "render_haproxy",
    "render_litellm",
    "render_models_map",
    "render_open_webui",
]

# The whole request body must fit in one buffer for HAProxy to read "model" from it (images in
# /api/chat are base64). Memory per active request is about two buffers.
BUFFER_BYTES = 8 * 1024 * 1024
# Pinned exactly: LiteLLM 1.107.0 on PyPI was a compromised release, so never a range.
LITELLM_PIN = "litellm[proxy]==1.106.12"
MANAGEMENT_PATHS = "/api/pull /api/create /api/delete /api/copy /api/push"


def backend_name(group: Group) -> str:
    return f"group_{group.name}"


def _header(what: str) -> list[str]:
    return [
        f"# {what}",
        "# Rendered by ollama-build-tools `deploy render`; render again instead of editing.",
    ]


def _address(plan: DeployPlan) -> str:
    return (
        f"[{plan.listen}]:{plan.router_port}"
        if ":" in plan.listen
        else f"{plan.listen}:{plan.router_port}"
    )


def render_haproxy(plan: DeployPlan) -> str:
    default = backend_name(plan.default_group)
    lines = _header(
        f"HAProxy: one Ollama endpoint on {plan.listen}:{plan.router_port}, each model routed "
        "to its group's instance (models.map)"
    )
    lines += [
        "# Check: haproxy -c -C <this directory> -f haproxy.cfg",
        "global",
        "    log stderr format raw local0 info",
        '    # the whole request body must fit in one buffer for its "model" to be read',
        f"    tune.bufsize {BUFFER_BYTES}",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 5s",
        "    timeout client 15m",
        "    timeout server 15m",
        "    timeout http-request 5m",
        "",
        "frontend ollama",
        f"    bind {_address(plan)}",
        "    option http-buffer-request",
        '    # the model a request is for: "model" (generate, chat, embed, /v1/...), else "name"',
        "    http-request set-var(txn.model) req.body,json_query('$.model') if { method POST }",
        "    http-request set-var(txn.model) req.body,json_query('$.name') "
        "if { method POST } !{ var(txn.model) -m found }",
        "    http-request set-var(txn.model) var(txn.model),lower,regsub(:latest$,) "
        "if { var(txn.model) -m found }",
        "    http-request set-var(txn.backend) var(txn.model),map(models.map) "
        "if { var(txn.model) -m found }",
        "    # a name without a tag in models.map routes every tag of it",
        "    http-request set-var(txn.base) var(txn.model),regsub(:[^:/]*$,) "
        "if { var(txn.model) -m found } !{ var(txn.backend) -m found }",
        "    http-request set-var(txn.backend) var(txn.base),map(models.map) "
        "if { var(txn.base) -m found } !{ var(txn.backend) -m found }",
        "    # a body larger than the buffer cannot be read: refuse it instead of misrouting it",
        "    http-request set-var(txn.blen) req.body_len if { method POST }",
        "    http-request return status 413 content-type application/json string "
        '\'{"error":"request body larger than the router buffer (tune.bufsize)"}\' '
        "if { method POST } { req.body_size,sub(txn.blen) gt 0 }",
        "    use_backend %[var(txn.backend)] if { var(txn.backend) -m found }",
        "    # everything else (/api/tags, blob uploads, other models): group "
        f"{plan.default_group.name}",
        f"    default_backend {default}",
        "",
    ]
    for group in plan.groups:
        lines += [
            f"backend {backend_name(group)}",
            f"    server {group.name} 127.0.0.1:{group.port}",
            "",
        ]
    return "\n".join(lines)


def render_models_map(plan: DeployPlan) -> str:
    lines = _header("HAProxy map: model (lower case, no :latest) -> the backend of its group")
    for route in plan.routes:
        lines.append(f"{route.model} {backend_name(plan.group(route.group))}")
    return "\n".join(lines) + "\n"


def render_litellm(plan: DeployPlan) -> str:
    entries = [
        {
            "model_name": route.model,
            "litellm_params": {
                "model": f"ollama_chat/{route.model}",
                "api_base": f"http://127.0.0.1:{plan.group(route.group).port}",
            },
        }
        for route in plan.routes
    ]
    document = {
        "model_list": entries,
        "litellm_settings": {"drop_params": True},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    header = _header(
        "LiteLLM proxy: the OpenAI API (/v1/...) for the routed models, each on its group's "
        "instance"
    )
    header += [
        f"# Install into its own venv, pinned: pip install '{LITELLM_PIN}'",
        "# Run: LITELLM_MASTER_KEY=sk-... LITELLM_LOCAL_MODEL_COST_MAP=True \\",
        "#      litellm --config litellm.yaml --host 127.0.0.1 --port 4000",
        "# Check: litellm --config litellm.yaml --validate_config",
        "# Only the models listed here are served: LiteLLM has no default instance.",
    ]
    return "\n".join(header) + "\n" + dump_yaml(document)


def render_open_webui(plan: DeployPlan) -> str:
    # A router listening on every address is reached locally on the loopback one.
    host = "127.0.0.1" if ipaddress.ip_address(plan.listen).is_unspecified else plan.listen
    router = (
        f"http://{host}:{plan.router_port}"
        if ":" not in host
        else f"http://[{host}]:{plan.router_port}"
    )
    urls = ";".join(f"http://127.0.0.1:{g.port}" for g in plan.groups)
    configs = {
        str(n): {"model_ids": [f"{m}:latest" if ":" not in m else m for m in g.models]}
        for n, g in enumerate(plan.groups)
    }
    lines = _header("Open WebUI: use the router as its one Ollama connection")
    lines += [
        "# Every instance shares one models directory, so every instance lists every model; in",
        "# Open WebUI's several-connection mode (OLLAMA_BASE_URLS) it would then send each request",
        "# to a random instance. Point its single connection at the router instead:",
        f"OLLAMA_BASE_URL={router}",
        "",
        "# Without the router (not recommended): one connection per instance, each limited to its",
        "# models. Open WebUI stores these in its database on first start (persistent config).",
        f"# OLLAMA_BASE_URLS={urls}",
        f"# OLLAMA_API_CONFIGS={json.dumps(configs, separators=(',', ':'))}",
        "",
    ]
    return "\n".join(lines)
