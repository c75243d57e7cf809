"""The emulator speaks the Gemini wire format well enough for the real SDK, over real HTTP."""

from __future__ import annotations

import base64
import json
import struct
import urllib.error
import urllib.request
import zlib

import pytest
from google.genai import errors, types

from gemtui.emulator.tokenizer import count_text

VERSIONS = ("v1", "v1beta")


def raw(emulator, method: str, path: str, body: object = None, headers: dict | None = None):
    """(status, parsed JSON or text) for a hand-made request: what the SDK would not send."""
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(emulator.base_url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@pytest.mark.parametrize("version", VERSIONS)
def test_generate_sync(make_client, version):
    client = make_client(api_version=version)
    resp = client.models.generate_content(model="gemini-2.5-flash", contents="Tell me about rate limits")
    assert resp.text
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.candidates[0].content.role == "model"
    usage = resp.usage_metadata
    assert usage.prompt_token_count == count_text("Tell me about rate limits")
    assert usage.candidates_token_count == count_text(resp.text)
    # 2.5 Flash thinks (dynamic budget): its thinking tokens are part of the total
    assert usage.thoughts_token_count and usage.thoughts_token_count > 0
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    )
    assert 40 <= usage.candidates_token_count <= 410
    assert resp.model_version == "gemini-2.5-flash"
    assert resp.response_id


async def test_generate_async(make_client):
    client = make_client(api_version="v1")
    resp = await client.aio.models.generate_content(model="gemini-2.5-pro", contents="hello async")
    assert resp.text
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP


def test_answers_are_deterministic_and_depend_on_prompt(make_client):
    client = make_client()
    a1 = client.models.generate_content(model="gemini-2.5-flash", contents="same prompt").text
    a2 = client.models.generate_content(model="gemini-2.5-flash", contents="same prompt").text
    b = client.models.generate_content(model="gemini-2.5-flash", contents="other prompt").text
    assert a1 == a2
    assert a1 != b


def test_tokens_marker_and_max_output_tokens(make_client):
    client = make_client()
    resp = client.models.generate_content(model="gemini-2.5-flash", contents="bench [[tokens=600]]")
    assert abs(resp.usage_metadata.candidates_token_count - 600) <= 10
    capped = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="bench [[tokens=600]]",
        config=types.GenerateContentConfig(max_output_tokens=50),
    )
    assert capped.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert capped.usage_metadata.candidates_token_count == 50
    assert resp.text.startswith(capped.text)


def test_system_instruction_counts_in_prompt_tokens(make_client):
    client = make_client()
    plain = client.models.generate_content(model="gemini-2.5-flash", contents="hi there")
    with_system = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="hi there",
        config=types.GenerateContentConfig(system_instruction="You are terse and exact."),
    )
    extra = count_text("You are terse and exact.")
    assert with_system.usage_metadata.prompt_token_count == plain.usage_metadata.prompt_token_count + extra


def test_snake_case_bodies_are_accepted(emulator):
    body = {
        "contents": [{"role": "user", "parts": [{"text": "snake [[tokens=300]]"}]}],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {"max_output_tokens": 20},
    }
    status, resp = raw(
        emulator,
        "POST",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        body,
        {"x-goog-api-key": "demo-key", "content-type": "application/json"},
    )
    assert status == 200
    assert resp["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert resp["usageMetadata"]["candidatesTokenCount"] == 20
    assert resp["usageMetadata"]["promptTokenCount"] == count_text("snake [[tokens=300]]") + 2


def test_key_in_query_string_is_accepted(emulator):
    status, resp = raw(emulator, "GET", "/v1beta/models/gemini-2.5-pro?key=demo-key")
    assert status == 200
    assert resp["name"] == "models/gemini-2.5-pro"


@pytest.mark.parametrize("version", VERSIONS)
def test_stream_chunks_running_usage_and_finish_last(make_client, version):
    client = make_client(api_version=version)
    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-flash", contents="stream please [[tokens=200]]")
    )
    assert len(chunks) > 5
    running = [c.usage_metadata.candidates_token_count for c in chunks]
    assert running == sorted(running)
    assert all(c.usage_metadata.prompt_token_count == chunks[0].usage_metadata.prompt_token_count for c in chunks)
    assert [c.candidates[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    text = "".join(c.text for c in chunks)
    assert running[-1] == count_text(text)
    whole = client.models.generate_content(model="gemini-2.5-flash", contents="stream please [[tokens=200]]")
    assert whole.text == text


async def test_stream_async(make_client):
    client = make_client()
    seen = []
    async for chunk in await client.aio.models.generate_content_stream(
        model="gemini-2.5-flash-lite", contents="async stream"
    ):
        seen.append(chunk)
    assert seen[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert len(seen) >= 2


def test_sse_framing_on_the_wire(emulator):
    body = {"contents": [{"role": "user", "parts": [{"text": "frame check"}]}]}
    req = urllib.request.Request(
        emulator.base_url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"x-goog-api-key": "demo-key", "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        payload = resp.read().decode()
    events = payload.split("\r\n\r\n")
    assert events[-1] == ""
    for event in events[:-1]:
        assert event.startswith("data: ") and "\n" not in event
        json.loads(event[len("data: ") :])
    assert "[DONE]" not in payload


def test_count_tokens_matches_prompt_token_count(make_client):
    client = make_client()
    prompt = "Count these tokens, please: internationalisation 12345678 and emoji-free text."
    counted = client.models.count_tokens(model="gemini-2.5-pro", contents=prompt)
    resp = client.models.generate_content(model="gemini-2.5-pro", contents=prompt)
    assert counted.total_tokens == resp.usage_metadata.prompt_token_count == count_text(prompt)
    assert client.models.count_tokens(model="gemini-2.5-pro", contents="a" * 24).total_tokens == 5  # not 24/4


def test_count_tokens_consumes_no_quota(make_client, emulator):
    client = make_client()
    for _ in range(8):
        client.models.count_tokens(model="gemini-2.5-pro", contents="free to count")
    client.models.get(model="gemini-2.5-pro")
    list(client.models.list())
    assert emulator.counters().get("demo", {}).get("gemini-2.5-pro", {}).get("accepted", 0) == 0


def test_inline_image_counts_258_tokens(make_client):
    client = make_client()
    image = types.Part.from_bytes(data=b"\x89PNG\r\n\x1a\nfake", mime_type="image/png")
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents=[image, "what is this"])
    assert counted.total_tokens == 258 + count_text("what is this")


@pytest.mark.parametrize("version", VERSIONS)
def test_models_list_paginates_and_get(make_client, version):
    client = make_client(api_version=version)
    pager = client.models.list(config={"page_size": 2})
    assert len(pager.page) == 2
    names = [m.name for m in pager]
    assert len(names) == len(set(names)) >= 5
    for expected in (
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.5-flash-image",
        "gemini-2.0-flash",
    ):
        assert f"models/{expected}" in names
    pro = client.models.get(model="gemini-2.5-pro")
    assert pro.name == "models/gemini-2.5-pro"
    assert pro.input_token_limit == 1_048_576
    assert pro.output_token_limit == 65_536
    assert "generateContent" in pro.supported_actions


def test_page_token_on_the_wire(emulator):
    status, first = raw(emulator, "GET", "/v1beta/models?pageSize=4", headers={"x-goog-api-key": "demo-key"})
    assert status == 200 and len(first["models"]) == 4 and first["nextPageToken"]
    status, second = raw(
        emulator,
        "GET",
        f"/v1beta/models?pageSize=4&pageToken={first['nextPageToken']}",
        headers={"x-goog-api-key": "demo-key"},
    )
    assert status == 200 and "nextPageToken" not in second
    assert {m["name"] for m in first["models"]}.isdisjoint(m["name"] for m in second["models"])


def test_invalid_key_is_400_api_key_invalid(make_client):
    with pytest.raises(errors.ClientError) as info:
        client = make_client(key="not-a-key")
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    assert info.value.message == "API key not valid. Please pass a valid API key."
    reasons = [d.get("reason") for d in info.value.details["error"]["details"]]
    assert "API_KEY_INVALID" in reasons


def test_key_marked_invalid_and_forbidden(make_client, emulator):
    emulator.add_key("revoked", "demo", status="invalid")
    emulator.add_key("banned", "demo", status="forbidden")
    with pytest.raises(errors.ClientError) as bad:
        client = make_client(key="revoked")
        client.models.get(model="gemini-2.5-flash")
    assert bad.value.code == 400
    with pytest.raises(errors.ClientError) as banned:
        client = make_client(key="banned")
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert banned.value.code == 403
    assert banned.value.status == "PERMISSION_DENIED"


def test_missing_key_is_403(emulator):
    status, body = raw(
        emulator, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}
    )
    assert status == 403
    assert body["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_model_is_404(make_client, version):
    with pytest.raises(errors.ClientError) as info:
        client = make_client(api_version=version)
        client.models.generate_content(model="gemini-9-ultra", contents="x")
    assert info.value.code == 404
    assert info.value.status == "NOT_FOUND"
    assert info.value.message == (
        f"models/gemini-9-ultra is not found for API version {version}, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their supported methods."
    )


def test_malformed_bodies_are_400(emulator):
    headers = {"x-goog-api-key": "demo-key", "content-type": "application/json"}
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    status, body = raw(emulator, "POST", path, b"{not json", headers)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    status, body = raw(emulator, "POST", path, {"contents": []}, headers)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert emulator.counters() == {}


def test_image_model_returns_a_valid_png(make_client, emulator):
    emulator.set_tier("demo", "tier1")  # IPM is 0 on the free tier
    emulator.set_pacing(tokens_per_s=1e6)  # the image adds 1290 output tokens to pace
    client = make_client()
    resp = client.models.generate_content(model="gemini-2.5-flash-image", contents="a red fox")
    parts = resp.candidates[0].content.parts
    assert parts[0].text
    blob = parts[1].inline_data
    assert blob.mime_type == "image/png"
    png = blob.data if isinstance(blob.data, bytes) else base64.b64decode(blob.data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    pixels = zlib.decompress(png[41 : 41 + idat_len])
    assert len(pixels) == height * (1 + 3 * width)
    assert png.endswith(b"IEND\xaeB`\x82")
    assert emulator.counters()["demo"]["gemini-2.5-flash-image"]["ipm"] == 1
    client = make_client()
    again = client.models.generate_content(model="gemini-2.5-flash-image", contents="a red fox")
    assert again.candidates[0].content.parts[1].inline_data.data == blob.data


def test_generation_config_is_logged_and_thinking_follows_the_budget(make_client, emulator):
    from tests.fixtures_emulator import emulator_http

    client = make_client()
    thinking = types.ThinkingConfig(thinking_budget=0)
    off = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="no thinking please",
        config=types.GenerateContentConfig(temperature=0.4, top_p=0.6, thinking_config=thinking),
    )
    assert not off.usage_metadata.thoughts_token_count
    few = client.models.generate_content(
        model="gemini-2.5-pro",
        contents="a little thinking",
        config=types.GenerateContentConfig(
            max_output_tokens=80, thinking_config=types.ThinkingConfig(thinking_budget=130)
        ),
    )
    assert 0 < few.usage_metadata.thoughts_token_count <= 130
    plain = client.models.generate_content(model="gemini-2.0-flash", contents="an older model")
    assert not plain.usage_metadata.thoughts_token_count  # 2.0 does not think
    log = emulator.generation_log()
    assert [(e["model"], e["temperature"], e["topP"], e["maxOutputTokens"], e["thinkingBudget"]) for e in log] == [
        ("gemini-2.5-flash", 0.4, 0.6, None, 0),
        ("gemini-2.5-pro", None, None, 80, 130),
        ("gemini-2.0-flash", None, None, None, None),
    ]
    status, body = emulator_http(emulator, "GET", "/_emulator/generation")
    assert status == 200 and body["requests"] == log


def test_budgets_a_model_cannot_take_are_refused_as_the_service_does(make_client, emulator):
    from google.genai import errors

    client = make_client()
    for model, budget, words in (
        ("gemini-2.5-pro", 0, "only works in thinking mode"),
        ("gemini-2.0-flash", 100, "not supported"),
    ):
        with pytest.raises(errors.ClientError) as refused:
            client.models.generate_content(
                model=model,
                contents="hi",
                config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=budget)),
            )
        assert refused.value.code == 400 and words in refused.value.message
    assert emulator.counters() == {}  # a refused request is not counted against quota
    client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert emulator.counters() != {}
