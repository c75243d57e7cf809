"""The emulator's OpenAI-compatible side, asked through the real `openai` SDK over loopback HTTP."""

from __future__ import annotations

import openai
import pytest

from gemtui.emulator.openai_compat import format_reset
from gemtui.quota.headers import parse_duration


@pytest.fixture
async def clients(emulator):
    """sdk(key) → a real AsyncOpenAI client on the emulator, closed after the test."""
    made = []

    def sdk(key: str = "key-a"):
        made.append(openai.AsyncOpenAI(api_key=key, base_url=emulator.openai_base_url, max_retries=0))
        return made[-1]

    yield sdk
    for client in made:
        await client.close()


async def test_streams_chunks_then_a_usage_chunk_with_rate_limit_headers(emulator, clients):
    raw = await clients().chat.completions.with_raw_response.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "hello [[tokens=30]]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "60"
    assert raw.headers["x-ratelimit-remaining-requests"] == "59"
    assert parse_duration(raw.headers["x-ratelimit-reset-requests"]) <= 60
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < int(raw.headers["x-ratelimit-limit-tokens"])
    chunks = [c async for c in raw.parse()]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() and len(chunks) > 3  # streamed in pieces
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].usage.prompt_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


async def test_answers_whole_when_not_streaming_and_lists_models(emulator, clients):
    answer = await clients().chat.completions.create(
        model="emu-chat-mini", messages=[{"role": "user", "content": "hi [[tokens=10]]"}]
    )
    assert answer.choices[0].message.content and answer.usage.total_tokens > 0
    models = [m.id async for m in await clients().models.list()]
    assert models == ["deepseek-chat", "emu-chat-mini"]


async def test_a_bad_key_is_refused_with_401(emulator, clients):
    with pytest.raises(openai.AuthenticationError):
        await clients(key="nope").chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": "hi"}]
        )


async def test_a_spent_window_answers_429_with_retry_after_and_resets_on_the_emulator_clock(
    emulator, clients, emulator_clock
):
    emulator_clock.running = False
    emulator.set_openai_limits(requests=2, window_s=10)
    client = clients()
    for _ in range(2):
        await client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "x"}])
    headers = caught.value.response.headers
    assert headers["retry-after"] == "10"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert caught.value.body["type"] == "requests" and caught.value.body["code"] == "rate_limit_exceeded"
    emulator_clock.advance(10)
    await client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "x"}])
    assert emulator.openai_counters()["refused_429"] == 1


def test_reset_durations_read_back_as_written():
    for seconds, text in ((0.02, "20ms"), (1, "1s"), (59.5, "59.5s"), (360, "6m0s"), (3723, "1h2m3s")):
        assert format_reset(seconds) == text
        assert parse_duration(text) == pytest.approx(seconds)
    assert parse_duration("soon") is None


def test_the_admin_hook_sets_the_openai_limits(emulator):
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{emulator.base_url}/_emulator/openai",
        method="POST",
        data=json.dumps({"requests": 2, "tokens": -1, "window_s": 5}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["limits"] == {"requests": 2, "tokens": None, "window_s": 5.0}
    with urllib.request.urlopen(f"{emulator.base_url}/_emulator/openai", timeout=10) as answer:
        assert json.loads(answer.read())["refused_429"] == 0
