"""The ASGI app: Gemini REST routes (`/v1` and `/v1beta`) and the loopback admin routes (`/_emulator`)."""

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
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
        ]})
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


def build_app(state: EmulatorState) -> Starlette:
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

    async def models_list(request: Request) -> Response:
        ver = request.path_params["ver"]
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
        page = catalogue.MODELS[start:start + size]
        body: dict = {"models": [m.wire() for m in page]}
        if start + size < len(catalogue.MODELS):
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
        info = catalogue.find(name)
        if info is None:
            shown = "generateContent" if method == "streamGenerateContent" else (method or "get")
            return _error(errors.model_not_found(name, ver, shown))
        if request.method == "GET":
            return _json(info.wire())
        body, err = await read_body(request)
        if err:
            return err
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

    async def generate(request: Request, project: str, info: catalogue.ModelInfo, body: dict,
                       streaming: bool) -> Response:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return _error(errors.bad_request("* GenerateContentRequest.contents: contents is not specified"))
        system = _pick(body, "systemInstruction", "system_instruction")
        config = _pick(body, "generationConfig", "generation_config") or {}
        max_out = _pick(config, "maxOutputTokens", "max_output_tokens") if isinstance(config, dict) else None
        tokens, _ = count_contents(contents, system)

        fault = state.take_fault(info.name, streaming, consume=False)
        if fault is not None and fault.kind not in STREAM_ONLY:
            state.consume_fault(fault)
            if fault.kind == "overloaded":
                return _error(errors.overloaded())
            if fault.kind == "internal":
                return _error(errors.internal())
            if fault.kind == "bare_429":
                return _error(errors.bare_429())
            if fault.kind == "html_page":
                return HTMLResponse(errors.HTML_BAD_GATEWAY, status_code=502)
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
            return {
                "candidates": [candidate],
                "usageMetadata": {
                    "promptTokenCount": tokens,
                    "candidatesTokenCount": out_tokens,
                    "totalTokenCount": tokens + out_tokens,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
                },
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
                        yield errors.internal()
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
                return _json({"status": "ok", "now": state.now(), "tier": state.default_tier,
                              "models": [m.name for m in catalogue.MODELS]})
            if action == "counters" and request.method == "GET":
                return _json(state.counters())
            if action == "fault" and request.method == "GET":
                with state.lock:
                    return _json({"faults": state.faults.pending()})
            if action == "fault" and request.method == "POST":
                if body.get("clear"):
                    state.clear_faults()
                else:
                    state.set_fault(**body)
                with state.lock:
                    return _json({"faults": state.faults.pending()})
            if action == "invisible" and request.method == "POST":
                state.add_invisible_usage(**body)
                return _json(state.counters())
            if action == "ghost" and request.method == "POST":
                state.set_ghost(**body)
                return _json(state.counters())
            if action == "tier" and request.method == "POST":
                state.set_tier(**body)
                return _json({"project": body.get("project"), "tier": state.tier_of(body["project"])})
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
        Route("/{ver}/models", models_list, methods=["GET"]),
        Route("/{ver}/models/{rest:path}", model_route, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.add_exception_handler(404, not_found)
    return app
