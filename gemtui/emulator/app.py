"""The ASGI app: Gemini REST routes (`/v1` and `/v1beta`), the OpenAI-compatible routes
(`/v1/chat/completions`, and `/v1/models` asked with a bearer key) and the loopback admin routes (`/_emulator`)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gemtui.emulator import catalogue, errors
from gemtui.emulator.faults import STREAM_ONLY
from gemtui.emulator.openai_compat import build_routes as openai_routes
from gemtui.emulator.relay import RelayGate
from gemtui.emulator.state import EmulatorState
from gemtui.emulator.textgen import generate_text, make_png, seed_for, split_chunks, truncate
from gemtui.emulator.tokenizer import count_contents, count_text

API_VERSIONS = ("v1", "v1beta")
IMAGE_OUTPUT_TOKENS = 1290  # what one generated image adds to candidatesTokenCount
JSON_TYPE = "application/json; charset=UTF-8"


class CutStream(Exception):
    """Raised inside a stream to make uvicorn drop the connection mid-body (the `cut_stream` fault)."""


class _HideCutStream(logging.Filter):
    """Keeps the deliberate cut out of the server log: it is a fault we injected, not a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, CutStream):
                return False
            if isinstance(exc, BaseExceptionGroup) and any(isinstance(e, CutStream) for e in exc.exceptions):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


_FILTER = _HideCutStream()
logging.getLogger("uvicorn.error").addFilter(_FILTER)


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type=JSON_TYPE)


def _error(body: dict) -> Response:
    return _json(body, body["error"]["code"])


class SSEStream:
    """A minimal ASGI streaming response: chunked body, one `data: <json>\\r\\n\\r\\n` event per chunk.

    Hand-written (not starlette's StreamingResponse) so that raising `CutStream` reaches uvicorn directly,
    which then closes the socket without the terminating zero-length chunk.
    """

    def __init__(self, events):
        self.events = events

    async def __call__(self, scope, receive, send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        try:
            async for payload in self.events:
                data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\r\n\r\n"
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away; nothing to tell it
            return


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def _asks_openai(request: Request) -> bool:
    """A bearer key and no Gemini key: the OpenAI-compatible model list is wanted, not Gemini's."""
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    return bearer and not (request.headers.get("x-goog-api-key") or request.query_params.get("key"))


def _last_user_text(contents: list) -> str:
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = [p.get("text") for p in content.get("parts") or [] if isinstance(p, dict)]
            return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def _pick(d: dict, *names: str):
    for name in names:
        if name in d:
            return d[name]
    return None


DYNAMIC_THOUGHTS_MAX = 512  # what a thinking model spends thinking when the budget is dynamic (-1 or unset)


def _thinking_budget(config: dict) -> int | None:
    thinking = _pick(config, "thinkingConfig", "thinking_config")
    if not isinstance(thinking, dict):
        return None
    budget = _pick(thinking, "thinkingBudget", "thinking_budget")
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


def _thoughts(info: catalogue.ModelInfo, budget: int | None, prompt_tokens: int) -> int:
    """Thinking tokens an answer reports (`thoughtsTokenCount`): none for a model that does not think or
    a budget of 0, at most the budget, otherwise a few tokens per token of prompt."""
    if not info.thinking or budget == 0:
        return 0
    spent = min(DYNAMIC_THOUGHTS_MAX, 32 + prompt_tokens)
    return min(spent, budget) if budget is not None and budget > 0 else spent


def _refused_budget(info: catalogue.ModelInfo, budget: int | None) -> dict | None:
    """What the service answers to a thinking budget the model cannot take, or None."""
    if budget is None:
        return None
    if not info.thinking:
        return errors.bad_request("Thinking is not supported by this model.")
    if budget == 0 and info.family == "pro":
        return errors.bad_request("Budget 0 is invalid. This model only works in thinking mode.")
    if budget < -1 or budget > 32768:
        return errors.bad_request(
            f"The thinking budget {budget} is invalid. Please choose a value between "
            "0 and 32768, or -1 for dynamic thinking."
        )
    return None


def _generation_note(info: catalogue.ModelInfo, system, config: dict) -> dict:
    """One entry of the generation log: the model and the generation config as received (camelCase)."""
    texts = []
    if isinstance(system, dict):
        texts = [p.get("text") for p in system.get("parts") or [] if isinstance(p, dict)]
    elif isinstance(system, str):
        texts = [system]
    return {
        "model": info.name,
        "systemInstruction": "\n".join(t for t in texts if isinstance(t, str)) or None,
        "temperature": _pick(config, "temperature"),
        "topP": _pick(config, "topP", "top_p"),
        "maxOutputTokens": _pick(config, "maxOutputTokens", "max_output_tokens"),
        "thinkingBudget": _thinking_budget(config),
    }


def build_app(state: EmulatorState) -> RelayGate:
    """The Gemini routes behind the relay gate (which passes everything on while relay mode is off)."""

    async def authorise(request: Request):
        """(project, None) or (None, error response)."""
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            return None, _error(errors.missing_key())
        info = state.lookup_key(key)
        if info is None or info.status == "invalid":
            return None, _error(errors.invalid_key())
        if info.status == "forbidden":
            return None, _error(errors.forbidden_key(info.project))
        return info.project, None

    async def read_body(request: Request):
        """(dict, None) or (None, 400 response)."""
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            return None, _error(errors.bad_request(f"Invalid JSON payload received. {exc}"))
        if not isinstance(body, dict):
            return None, _error(errors.bad_request("Invalid JSON payload received. Expected an object."))
        return body, None

    chat_completions, openai_models = openai_routes(state)

    async def models_list(request: Request) -> Response:
        ver = request.path_params["ver"]
        if ver == "v1" and _asks_openai(request):
            return await openai_models(request)
        if ver not in API_VERSIONS:
            return _error(errors.envelope(404, f"Unknown API version {ver}."))
        _, err = await authorise(request)
        if err:
            return err
        try:
            size = int(request.query_params.get("pageSize") or 50)
            start = int(base64.urlsafe_b64decode(request.query_params.get("pageToken") or "MA==").decode())
        except ValueError:
            return _error(errors.bad_request("Invalid page token or page size."))
        size = max(1, min(size, 1000))
        served = state.models
        page = served[start : start + size]
        body: dict = {"models": [m.wire() for m in page]}
        if start + size < len(served):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return _json(body)

    async def model_route(request: Request) -> Response:
        ver = request.path_params["ver"]
        rest = request.path_params["rest"]
        if ver not in API_VERSIONS:
            return _error(errors.envelope(404, f"Unknown API version {ver}."))
        name, _, method = rest.partition(":")
        wanted = {"GET": ("",), "POST": ("generateContent", "streamGenerateContent", "countTokens")}
        if method not in wanted.get(request.method, ()):
            return _error(errors.envelope(404, f"Method {method or request.method} is not found."))
        project, err = await authorise(request)
        if err:
            return err
        info = state.find_model(name)
        if info is None:
            shown = "generateContent" if method == "streamGenerateContent" else (method or "get")
            return _error(errors.model_not_found(name, ver, shown))
        if request.method == "GET":
            return _json(info.wire())
        body, err = await read_body(request)
        if err:
            return err
        if isinstance(body, dict):
            state.log_request(method, info.name, body)
        if method == "countTokens":
            return await count_tokens(body)
        return await generate(request, project, info, body, streaming=method == "streamGenerateContent")

    async def count_tokens(body: dict) -> Response:
        inner = _pick(body, "generateContentRequest", "generate_content_request") or {}
        contents = body.get("contents") or inner.get("contents")
        if not isinstance(contents, list) or not contents:
            return _error(errors.bad_request("* CountTokensRequest.contents: contents is not specified"))
        system = _pick(inner, "systemInstruction", "system_instruction")
        tokens, _ = count_contents(contents, system)
        details = [{"modality": "TEXT", "tokenCount": tokens}]
        return _json({"totalTokens": tokens, "promptTokensDetails": details})

    async def generate(
        request: Request, project: str, info: catalogue.ModelInfo, body: dict, streaming: bool
    ) -> Response:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return _error(errors.bad_request("* GenerateContentRequest.contents: contents is not specified"))
        system = _pick(body, "systemInstruction", "system_instruction")
        config = _pick(body, "generationConfig", "generation_config") or {}
        if not isinstance(config, dict):
            config = {}
        max_out = _pick(config, "maxOutputTokens", "max_output_tokens")
        tokens, _ = count_contents(contents, system)
        state.note_generation(_generation_note(info, system, config))
        budget = _thinking_budget(config)
        refused = _refused_budget(info, budget)
        if refused is not None:
            return _error(refused)
        thoughts = _thoughts(info, budget, tokens)

        fault = state.take_fault(info.name, streaming, consume=False)
        if fault is not None and fault.kind not in STREAM_ONLY:
            state.consume_fault(fault)
            if fault.kind == "overloaded":
                return _error(errors.echoed(errors.overloaded(), fault.echo))
            if fault.kind == "internal":
                return _error(errors.echoed(errors.internal(), fault.echo))
            if fault.kind == "bare_429":
                return _error(errors.echoed(errors.bare_429(), fault.echo))
            if fault.kind == "html_page":
                return HTMLResponse(errors.html_bad_gateway(fault.echo), status_code=502)
            if fault.kind == "foreign_json":  # another service behind the URL, pleased to see us
                return _json({"status": "ok", "service": "not-gemini", "message": f"welcome {fault.echo}".strip()})
            if fault.kind == "slow_first_byte":
                await asyncio.sleep(state.real_delay(fault.seconds))
            fault = None

        images_out = 1 if info.image_output else 0
        tier, violations = state.admit(project, info.name, tokens, images_out)
        if violations:
            return _error(errors.quota_exceeded(violations, tier, info.name))
        if fault is not None:
            state.consume_fault(fault)

        prompt = _last_user_text(contents)
        text = generate_text(prompt, state.seed)
        finish = "STOP"
        if isinstance(max_out, int) and max_out >= 0 and count_text(text) > max_out:
            text, finish = truncate(text, max_out), "MAX_TOKENS"
        rid = seed_for(f"{prompt}#{state.next_response_id()}", state.seed).to_bytes(8, "big")
        response_id = base64.urlsafe_b64encode(rid).decode().rstrip("=")
        image_part = None
        if info.image_output and finish == "STOP":
            png = make_png(prompt, state.seed)
            image_part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}

        def chunk(parts: list, out_tokens: int, last: bool) -> dict:
            candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if last:
                candidate["finishReason"] = finish
            usage = {
                "promptTokenCount": tokens,
                "candidatesTokenCount": out_tokens,
                "totalTokenCount": tokens + out_tokens + thoughts,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
            }
            if thoughts:
                usage["thoughtsTokenCount"] = thoughts
            return {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": info.name,
                "responseId": response_id,
            }

        out_total = count_text(text) + (IMAGE_OUTPUT_TOKENS if image_part else 0)
        if not streaming:
            await asyncio.sleep(state.real_delay(state.ttft_s + out_total / state.tokens_per_s))
            parts = [{"text": text}] + ([image_part] if image_part else [])
            return _json(chunk(parts, out_total, last=True))

        pieces = split_chunks(text, seed_for(prompt, state.seed + 1))

        async def events():
            await asyncio.sleep(state.real_delay(state.ttft_s))
            sent = 0
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                if fault is not None and i >= min(fault.after_chunks, len(pieces) - 1):
                    if fault.kind == "stream_error":
                        yield errors.echoed(errors.internal(), fault.echo)
                        return
                    raise CutStream("cut_stream fault")
                n = count_text(piece)
                if i:
                    await asyncio.sleep(state.real_delay(n / state.tokens_per_s))
                sent += n
                parts = [{"text": piece}]
                if last and image_part:
                    parts.append(image_part)
                    sent += IMAGE_OUTPUT_TOKENS
                yield chunk(parts, sent, last)

        return SSEStream(events())

    # admin -----------------------------------------------------------------------------------------------
    async def admin(request: Request) -> Response:
        if not _is_loopback(request):
            return _error(errors.envelope(403, "The emulator admin API answers loopback clients only."))
        action = request.path_params["action"]
        body: dict = {}
        if request.method == "POST":
            body, err = await read_body(request)
            if err:
                return err
        try:
            if action == "health" and request.method == "GET":
                return _json(
                    {
                        "status": "ok",
                        "now": state.now(),
                        "tier": state.default_tier,
                        "models": [m.name for m in state.models],
                    }
                )
            if action == "models" and request.method == "POST":
                state.set_models(body["models"])
                return _json({"models": [m.name for m in state.models]})
            if action == "counters" and request.method == "GET":
                return _json(state.counters())
            if action == "generation" and request.method == "GET":
                return _json({"requests": state.generation_log()})
            if action == "requests" and request.method == "GET":
                return _json({"requests": state.requests()})
            if action == "fault" and request.method == "GET":
                with state.lock:
                    return _json({"faults": state.pending_faults()})
            if action == "fault" and request.method == "POST":
                if body.get("clear"):
                    state.clear_faults()
                else:
                    state.set_fault(**body)
                with state.lock:
                    return _json({"faults": state.pending_faults()})
            if action == "relay" and request.method == "GET":
                return _json(state.relay_status())
            if action == "relay" and request.method == "POST":
                if body.get("clear"):
                    state.clear_relay()
                else:
                    state.set_relay(**body)
                return _json(state.relay_status())
            if action == "invisible" and request.method == "POST":
                state.add_invisible_usage(**body)
                return _json(state.counters())
            if action == "ghost" and request.method == "POST":
                state.set_ghost(**body)
                return _json(state.counters())
            if action == "tier" and request.method == "POST":
                state.set_tier(**body)
                return _json({"project": body.get("project"), "tier": state.tier_of(body["project"])})
            if action == "openai" and request.method == "GET":
                return _json(state.openai.counters())
            if action == "openai" and request.method == "POST":
                state.openai.configure(**body)
                return _json(state.openai.counters())
            if action == "reset" and request.method == "POST":
                state.reset()
                return _json({"status": "reset"})
        except (TypeError, ValueError, KeyError) as exc:
            return _error(errors.bad_request(f"Bad admin request: {exc}"))
        return _error(errors.envelope(404, f"No admin action {request.method} {action}."))

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(errors.envelope(404, f"The requested URL {request.url.path} was not found."))

    routes = [
        Route("/_emulator/{action}", admin, methods=["GET", "POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/{ver}/models", models_list, methods=["GET"]),
        Route("/{ver}/models/{rest:path}", model_route, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.add_exception_handler(404, not_found)
    return RelayGate(app, state)
