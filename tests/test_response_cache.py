"""The response cache file: what the key holds, TTL and size cap, a damaged file, the config settings."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

import pytest

from gemtui import storage
from gemtui.chat.response_cache import (
    CacheUse,
    ResponseCache,
    answer_settings,
    cache_key,
    is_complete,
    request_key,
)
from gemtui.chat.sender import Finished, Request
from gemtui.config import Config, ConfigError, load_config
from gemtui.turns import Turn, Usage


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(text: str = "hello", **kwargs) -> Request:
    return Request(turns=[Turn("user", text)], **kwargs)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(tmp_path, clock):
    opened = ResponseCache(tmp_path / "responses.sqlite3", max_mb=1, ttl_days=1, clock=clock)
    yield opened
    opened.close()


# ---- the key --------------------------------------------------------------------------------------


def test_the_key_changes_with_model_provider_contents_system_and_settings():
    base = request_key("gemini", "gemini-2.5-pro", request())
    assert base == request_key("gemini", "gemini-2.5-pro", request()), "stable across calls"
    others = {
        request_key("gemini", "gemini-2.5-flash", request()),
        request_key("openai", "gemini-2.5-pro", request()),
        request_key("gemini", "gemini-2.5-pro", request("hello!")),
        request_key("gemini", "gemini-2.5-pro", request(system="be brief")),
        request_key("gemini", "gemini-2.5-pro", request(max_output_tokens=100)),
        request_key("gemini", "gemini-2.5-pro", Request(turns=[Turn("model", "hello")])),
        request_key(
            "gemini", "gemini-2.5-pro", Request(turns=[Turn("user", "hi"), Turn("model", "yes"), Turn("user", "hello")])
        ),
    }
    assert base not in others and len(others) == 7


def test_routing_fields_are_not_part_of_the_key():
    base = request_key("gemini", "gemini-2.5-pro", request())
    routed = request(preference="pro", policy="wait", threshold_s=3.0, forced_route="gemini-2.5-pro")
    routed.cost_for = lambda model: None
    assert request_key("gemini", "gemini-2.5-pro", routed) == base
    assert set(answer_settings(routed)) == {"max_output_tokens", "generation"}


def test_a_conversation_keys_what_it_sends_to_that_model():
    history = {
        "gemini-2.5-pro": [Turn("user", "a"), Turn("model", "b"), Turn("user", "c")],
        "gemini-2.5-flash": [Turn("user", "c")],
    }
    planned = request("c")
    planned.turns_for = lambda model: history[model]
    assert request_key("gemini", "gemini-2.5-pro", planned) == cache_key(
        "gemini", "gemini-2.5-pro", history["gemini-2.5-pro"], None, {"max_output_tokens": None, "generation": {}}
    )
    assert request_key("gemini", "gemini-2.5-flash", planned) == request_key("gemini", "gemini-2.5-flash", request("c"))


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes


def test_attachments_are_keyed_by_their_digest():
    one = cache_key("gemini", "m", [Turn("user", "x")], None, {"files": [Attachment("a.png", b"\x89PNG one")]})
    same = cache_key("gemini", "m", [Turn("user", "x")], None, {"files": [Attachment("a.png", b"\x89PNG one")]})
    other = cache_key("gemini", "m", [Turn("user", "x")], None, {"files": [Attachment("a.png", b"\x89PNG two")]})
    assert one == same != other


def test_only_complete_answers_are_worth_keeping():
    def finished(**kwargs) -> Finished:
        values = dict(model="m", text="answer", usage=None, latency_s=1.0, finish_reason="STOP") | kwargs
        return Finished(**values)

    assert is_complete(finished()) and is_complete(finished(finish_reason="stop"))
    assert not is_complete(finished(finish_reason=None)), "no reason given: it may have been cut"
    assert not is_complete(finished(finish_reason="MAX_TOKENS"))
    assert not is_complete(finished(finish_reason="SAFETY"))
    assert not is_complete(finished(text=""))
    assert not is_complete(finished(images=[("image/png", b"x")]))


# ---- the file -------------------------------------------------------------------------------------


def test_an_answer_is_served_with_its_model_usage_and_time(cache, clock, tmp_path):
    cache.put("k", "gemini", "gemini-2.5-pro", "the answer", Usage(input_tokens=7, output_tokens=3))
    clock.now += 60
    hit = cache.get("k")
    assert hit is not None and hit.text == "the answer" and hit.model == "gemini-2.5-pro"
    assert hit.usage == Usage(input_tokens=7, output_tokens=3) and hit.created_at == clock.now - 60
    assert cache.get("other") is None
    stats = cache.stats()
    assert stats.entries == 1 and stats.hits == 1 and stats.tokens_saved == 10
    assert stat.S_IMODE(os.stat(tmp_path / "responses.sqlite3").st_mode) == 0o600


def test_an_answer_older_than_the_ttl_is_never_served_and_is_deleted(cache, clock):
    cache.put("old", "gemini", "m", "stale", None)
    clock.now += 86400 - 1
    assert cache.get("old") is not None
    clock.now += 2
    assert cache.get("old") is None, "a day old with ttl_days = 1"
    cache.put("new", "gemini", "m", "fresh", None)
    assert cache.stats().entries == 1, "the expired row went at the next write"


def test_beyond_the_cap_the_least_recently_used_go_first(tmp_path, clock):
    cache = ResponseCache(tmp_path / "small.sqlite3", max_mb=0.01, ttl_days=30, clock=clock)  # 10 KiB
    text = "x" * 3000  # about 3.2 KiB a row
    for key in ("a", "b", "c"):
        clock.now += 1
        cache.put(key, "gemini", "m", text, None)
    clock.now += 1
    assert cache.get("a") is not None  # a is now the most recently used
    clock.now += 1
    cache.put("d", "gemini", "m", text, None)
    assert cache.get("b", touch=False) is None, "the least recently used went"
    assert all(cache.get(key, touch=False) is not None for key in ("a", "c", "d"))
    assert cache.stats().bytes <= 10 * 1024
    cache.close()


def test_a_damaged_file_is_moved_aside_with_one_warning(tmp_path, clock):
    path = tmp_path / "responses.sqlite3"
    path.write_bytes(b"this is not a database, it is garbage " * 200)
    heard: list[str] = []
    stop = storage.add_listener(heard.append)
    try:
        cache = ResponseCache(path, clock=clock)
    finally:
        stop()
    assert len(heard) == 1 and "response cache" in heard[0] and "moved it to" in heard[0]
    assert "\n" not in heard[0]
    assert list(tmp_path.glob("responses.sqlite3.corrupt-*")), "the old file is kept aside"
    cache.put("k", "gemini", "m", "works again", None)
    assert cache.get("k").text == "works again"
    cache.close()


def test_clear_forgets_every_answer(cache):
    cache.put("a", "gemini", "m", "one", None)
    cache.put("b", "gemini", "m", "two", None)
    assert cache.clear() == 2 and cache.get("a") is None and cache.stats().entries == 0


# ---- settings -------------------------------------------------------------------------------------


def test_cache_settings_have_defaults_and_are_checked(tmp_path):
    assert Config({}).cache == {"enabled": False, "max_mb": 64, "ttl_days": 30}
    path = tmp_path / "config.toml"
    path.write_text("[cache]\nenabled = true\nmax_mb = 5\nttl_days = 0.5\n")
    assert load_config(path).cache == {"enabled": True, "max_mb": 5, "ttl_days": 0.5}
    for bad in ('enabled = "yes"', "max_mb = 0", "ttl_days = -1", 'max_mb = "big"'):
        path.write_text(f"[cache]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"\[cache\]"):
            load_config(path)


def test_on_or_off_flag_beats_config_beats_the_default():
    on, off, unset = Config({"cache": {"enabled": True}}), Config({"cache": {"enabled": False}}), Config({})
    assert not CacheUse.from_config(unset).enabled, "chat: off unless asked for"
    assert CacheUse.from_config(unset, default=True).enabled, "a batch: on unless told otherwise"
    assert not CacheUse.from_config(off, default=True).enabled, "the config file's word beats the default"
    assert CacheUse.from_config(on).enabled
    assert not CacheUse.from_config(on, flag=False).enabled and CacheUse.from_config(off, flag=True).enabled
    assert CacheUse.from_config(unset).offer and not CacheUse.from_config(unset, flag=False).offer


def test_while_off_a_missing_file_is_not_created_to_look_into(tmp_path):
    path = tmp_path / "responses.sqlite3"
    use = CacheUse(lambda: ResponseCache(path), enabled=False, path=path)
    assert use.lookup(request(), ["m"], create=False, provider="gemini") is None
    assert not path.exists()


def test_generation_settings_are_part_of_the_key():
    from dataclasses import replace

    from gemtui.generation import GenerationSettings

    base = request()
    warmer = replace(base, generation=GenerationSettings(temperature=1.5))
    assert request_key("gemini", "gemini-2.5-pro", warmer) != request_key("gemini", "gemini-2.5-pro", base)
    again = replace(base, generation=GenerationSettings(temperature=1.5))
    assert request_key("gemini", "gemini-2.5-pro", again) == request_key("gemini", "gemini-2.5-pro", warmer)
