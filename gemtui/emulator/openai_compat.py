"""The OpenAI-compatible side of the emulator: Chat Completions (streamed and not) and the model list.

It answers the way such servers do: a bearer key, `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
headers on every answer, and a 429 with `Retry-After` and an OpenAI-style error body when a key's request
or token window is spent. Limits are per key, in fixed windows that open with the key's first request,
read on the emulator's clock; a test sets them small (`OpenAILimits`) so a window turns over in seconds.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from gemtui.emulator.textgen import generate_text, seed_for, split_chunks, truncate
from gemtui.emulator.tokenizer import count_text

DEFAULT_MODELS: tuple[str, ...] = ("deepseek-chat", "emu-chat-mini")
JSON_TYPE = "application/json"


@dataclass
class OpenAILimits:
    """Per-key limits: requests and prompt tokens per window (None: no limit, no headers for it)."""

    requests: int | None = 60
    tokens: int | None = 100_000
    window_s: float = 60.0


@dataclass
class _Window:
    started: float
    requests: int = 0
    tokens: int = 0


@dataclass
class OpenAISide:
    """What the OpenAI-compatible side knows: served models, limits, each key's window, counters."""

    models: tuple[str, ...] = DEFAULT_MODELS
    limits: OpenAILimits = field(default_factory=OpenAILimits)
    windows: dict[str, _Window] = field(default_factory=dict)
    served: int = 0
    refused: int = 0
    usage_in_streams: bool = True  # False: play an older server that refuses `stream_options` (400)
    # True: streams close cleanly after the text without the chunk that names a finish reason (a proxy
    # that dropped the end of an answer)
    ends_without_finish: bool = False
    received: list[dict] = field(default_factory=list)  # what each chat request asked for (tests read it)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def configure(
        self,
        requests: int | None | str = "keep",
        tokens: int | None | str = "keep",
        window_s: float | None = None,
        models: list[str] | None = None,
        usage_in_streams: bool | None = None,
        ends_without_finish: bool | None = None,
    ) -> None:
        """Change limits (`None`: no limit; a negative number too), the window, the model list, whether
        `stream_options` is understood, or whether streams end without their finish reason."""
        with self.lock:
            if usage_in_streams is not None:
                self.usage_in_streams = bool(usage_in_streams)
            if ends_without_finish is not None:
                self.ends_without_finish = bool(ends_without_finish)
            if requests != "keep":
                self.limits.requests = None if requests is None or int(requests) < 0 else int(requests)
            if tokens != "keep":
                self.limits.tokens = None if tokens is None or int(tokens) < 0 else int(tokens)
            if window_s is not None:
                if float(window_s) <= 0:
                    raise ValueError("window_s must be positive")
                self.limits.window_s = float(window_s)
            if models is not None:
                self.models = tuple(str(m) for m in models)
            self.windows.clear()

    def reset(self) -> None:
        with self.lock:
            self.windows.clear()
            self.served = self.refused = 0
            self.received.clear()

    def note_request(self, body: dict) -> None:
        """Keep the sampling settings and the kinds of content parts a chat request carried (bounded)."""
        kinds = []
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                kinds.append("text")
            elif isinstance(content, list):
                kinds.extend(str(part.get("type")) for part in content if isinstance(part, dict))
        entry = {name: body.get(name) for name in ("model", "temperature", "top_p", "max_tokens")}
        entry["parts"] = kinds
        with self.lock:
            self.received.append(entry)
            del self.received[:-200]

    def counters(self) -> dict:
        with self.lock:
            return {
                "served": self.served,
                "refused_429": self.refused,
                "limits": {
                    "requests": self.limits.requests,
                    "tokens": self.limits.tokens,
                    "window_s": self.limits.window_s,
                },
            }

    def admit(self, key: str, tokens: int, now: float) -> tuple[str | None, dict[str, str], float]:
        """(refused dimension or None, rate-limit headers, seconds until the window resets)."""
        with self.lock:
            limits = self.limits
            window = self.windows.get(key)
            if window is None or now >= window.started + limits.window_s:
                window = self.windows[key] = _Window(now)
            reset_s = max(0.0, window.started + limits.window_s - now)
            refused = None
            if limits.requests is not None and window.requests + 1 > limits.requests:
                refused = "requests"
            elif limits.tokens is not None and window.tokens + tokens > limits.tokens:
                refused = "tokens"
            if refused is None:
                window.requests += 1
                window.tokens += tokens
                self.served += 1
            else:
                self.refused += 1
            headers: dict[str, str] = {}
            for name, limit, used in (
                ("requests", limits.requests, window.requests),
                ("tokens", limits.tokens, window.tokens),
            ):
                if limit is None:
                    continue
                headers[f"x-ratelimit-limit-{name}"] = str(limit)
                headers[f"x-ratelimit-remaining-{name}"] = str(max(0, limit - used))
                headers[f"x-ratelimit-reset-{name}"] = format_reset(reset_s)
            return refused, headers, reset_s


def format_reset(seconds: float) -> str:
    """A duration as these servers write it: "20ms", "1s", "59.5s", "6m0s", "1h2m3s"."""
    seconds = max(0, math.ceil(seconds * 1000)) / 1000  # rounded up: waiting what it says is enough
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{round(secs, 3):g}s"
    if hours >= 1:
        return f"{int(hours)}h{int(minutes)}m{secs_text}"
    if minutes >= 1:
        return f"{int(minutes)}m{secs_text}"
    return secs_text


def error_body(message: str, kind: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _json(body: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type=JSON_TYPE, headers=headers)


def _message_text(content: object) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class SSEChunks:
    """`data: {chunk}` events then `data: [DONE]`, with the rate-limit headers on the response."""

    def __init__(self, events, headers: dict[str, str]) -> None:
        self.events = events
        self.headers = headers

    async def __call__(self, scope, receive, send) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        headers += [(k.encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            async for payload in self.events:
                data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        except OSError:  # the client went away
            return


def build_routes(state) -> tuple:
    """(chat_completions, models_list) handlers over the emulator state (keys, clock, pacing, seed)."""
    import asyncio

    def authorise(request: Request) -> tuple[str | None, Response | None]:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None, _json(
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth.",
                    "invalid_request_error",
                ),
                401,
            )
        info = state.lookup_key(key.strip())
        if info is None or info.status != "valid":
            return None, _json(
                error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"), 401
            )
        return key.strip(), None

    async def models_list(request: Request) -> Response:
        _, err = authorise(request)
        if err:
            return err
        created = int(time.time())
        side: OpenAISide = state.openai
        return _json(
            {
                "object": "list",
                "data": [{"id": m, "object": "model", "created": created, "owned_by": "emulator"} for m in side.models],
            }
        )

    async def chat_completions(request: Request) -> Response:
        key, err = authorise(request)
        if err or key is None:
            return err or _json(error_body("no key", "invalid_request_error"), 401)
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _json(error_body("We could not parse the JSON body of your request.", "invalid_request_error"), 400)
        if not isinstance(body, dict):
            return _json(error_body("The body must be a JSON object.", "invalid_request_error"), 400)
        side: OpenAISide = state.openai  # read per request: a full reset replaces it
        side.note_request(body)
        model = body.get("model")
        messages = body.get("messages")
        if "stream_options" in body and not side.usage_in_streams:
            return _json(
                error_body("Unrecognized request argument supplied: stream_options", "invalid_request_error"), 400
            )
        if not isinstance(messages, list) or not messages:
            return _json(error_body("'messages' is a required property", "invalid_request_error"), 400)
        if model not in side.models:
            return _json(
                error_body(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
                404,
            )
        texts = [_message_text(m.get("content")) for m in messages if isinstance(m, dict)]
        prompt_tokens = sum(count_text(t) for t in texts) + 3 * len(texts)
        refused, headers, reset_s = side.admit(key, prompt_tokens, state.now())
        if refused is not None:
            headers["retry-after"] = str(max(1, math.ceil(reset_s)))
            limit = headers.get(f"x-ratelimit-limit-{refused}", "?")
            message = (
                f"Rate limit reached for {model} on {refused} per min: Limit {limit}. "
                f"Please try again in {format_reset(reset_s)}."
            )
            return _json(error_body(message, refused, "rate_limit_exceeded"), 429, headers)

        users = [_message_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        prompt = users[-1] if users else texts[-1]
        text = generate_text(prompt, state.seed)
        finish = "stop"
        max_out = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(max_out, int) and max_out >= 0 and count_text(text) > max_out:
            text, finish = truncate(text, max_out), "length"
        completion_tokens = count_text(text)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid = f"chatcmpl-emu{state.next_response_id()}"
        created = int(state.now())
        if not body.get("stream"):
            await asyncio.sleep(state.real_delay(state.ttft_s + completion_tokens / state.tokens_per_s))
            return _json(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                    ],
                    "usage": usage,
                },
                200,
                headers,
            )
        options = body.get("stream_options") or {}
        with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        pieces = split_chunks(text, seed_for(prompt, state.seed + 1))

        def chunk(delta: dict, finish_reason: str | None) -> dict:
            payload: dict = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            if with_usage:
                payload["usage"] = None
            return payload

        async def events():
            await asyncio.sleep(state.real_delay(state.ttft_s))
            yield chunk({"role": "assistant", "content": ""}, None)
            for i, piece in enumerate(pieces):
                if i:
                    await asyncio.sleep(state.real_delay(count_text(piece) / state.tokens_per_s))
                yield chunk({"content": piece}, None)
            if side.ends_without_finish:
                return
            yield chunk({}, finish)
            if with_usage:
                yield {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }

        return SSEChunks(events(), headers)

    return chat_completions, models_list
