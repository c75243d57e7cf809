"""The provider layer's own pieces: the switchboard's routing of `profile:model` ids, the OpenAI-compatible
failure classification (real SDK errors from the emulator), and the route chain's configuration."""

from __future__ import annotations

import openai
import pytest

from gemtui.chat.router import candidates, route_chain, use_route
from gemtui.config import Config
from gemtui.providers.base import Provider
from gemtui.providers.gemini import GeminiProvider
from gemtui.providers.openai_compat import OpenAICompatProvider, build_messages
from gemtui.providers.switchboard import Switchboard, provider_for, split_link
from gemtui.runtime_links import chain_links
from gemtui.turns import Turn


def test_both_providers_offer_the_one_interface():
    assert isinstance(GeminiProvider(object()), Provider)
    assert isinstance(OpenAICompatProvider("k", "http://127.0.0.1:1/v1"), Provider)


def test_the_switchboard_sends_profile_links_to_their_provider_and_the_rest_to_the_primary():
    primary = GeminiProvider(object(), label="work")
    linked = OpenAICompatProvider("k", "http://127.0.0.1:1/v1", label="ds")
    board = Switchboard(primary, {"ds": lambda: linked})
    assert board.for_model("ds:deepseek-chat") == (linked, "deepseek-chat")
    assert board.for_model("gemini-2.5-pro") == (primary, "gemini-2.5-pro")
    assert board.for_model("work:gemini-2.5-pro") == (primary, "gemini-2.5-pro")
    assert split_link("deepseek-chat") == (None, "deepseek-chat")
    raw = object()
    assert provider_for(raw, "m")[0].client is raw, "a bare SDK client is Gemini's"


def test_turns_become_chat_messages():
    messages = build_messages([Turn("user", "hi"), Turn("model", "hello")], "be brief")
    assert messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


async def test_openai_failures_become_the_typed_outcomes(emulator):
    emulator.set_openai_limits(requests=1, window_s=30)
    provider = OpenAICompatProvider("key-a", emulator.openai_base_url)
    try:
        kinds = []
        for model in ("deepseek-chat", "deepseek-chat", "no-such-model"):
            try:
                async for _ in provider.stream(model, [Turn("user", "x")]):
                    pass
            except openai.APIError as exc:
                kinds.append(provider.classify(exc, secrets=("key-a",)))
        limited, missing = kinds
        assert limited.kind == "rate_limited" and limited.retry_after_s == 30
        assert limited.hit.violations[0].dimension == "rpm" and limited.hit.violations[0].limit == 1
        assert missing.kind == "not_found"
    finally:
        await provider.aclose()
    dead = OpenAICompatProvider("key-a", "http://127.0.0.1:9/v1")
    try:
        with pytest.raises(openai.APIConnectionError) as caught:
            async for _ in dead.stream("m", [Turn("user", "x")]):
                pass
        assert dead.classify(caught.value).kind == "unreachable"
    finally:
        await dead.aclose()


def test_the_route_chain_replaces_the_built_in_order_and_resolves_aliases():
    use_route(["pro", "ds:deepseek-chat"])
    assert route_chain() == ["gemini-2.5-pro", "ds:deepseek-chat"]
    assert candidates("auto") == ("gemini-2.5-pro", ["gemini-2.5-pro", "ds:deepseek-chat"])
    assert candidates("ds:deepseek-chat") == ("ds:deepseek-chat", ["ds:deepseek-chat"])


def test_a_link_whose_profile_cannot_be_read_is_left_out_of_the_chain(tmp_path):
    config = Config({"routing": {"route": ["pro", "flash", "nobody:some-model"]}}, tmp_path / "config.toml")
    assert chain_links(config, "work") == {}
    assert route_chain() == ["gemini-2.5-pro", "gemini-2.5-flash"]


@pytest.mark.parametrize("route", ['"pro"', "[]", '["pro", 3]', '["pro", " "]'])
def test_a_route_that_is_not_a_list_of_names_is_refused_in_one_line(route):
    from gemtui import paths
    from gemtui.config import ConfigError, load_config

    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(f"[routing]\nroute = {route}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[routing\] route must list model names"):
        load_config()


def test_a_connection_dropped_after_connecting_counts_and_one_never_made_does_not():
    """Every connection error before the first chunk was 'cannot reach' and released, although a server
    that read the request and then hung up may have counted it."""
    import httpx2

    provider = OpenAICompatProvider("key", "http://127.0.0.1:9/v1")
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    def failed(cause: Exception) -> openai.APIConnectionError:
        try:
            raise openai.APIConnectionError(request=request) from cause
        except openai.APIConnectionError as exc:
            return exc

    dropped = provider.classify(failed(httpx2.RemoteProtocolError("Server disconnected without sending a response.")))
    assert dropped.kind == "server" and "closed the connection" in dropped.message
    refused = provider.classify(failed(httpx2.ConnectError("[Errno 111] Connection refused")))
    assert refused.kind == "unreachable"


def test_an_account_without_credit_is_said_once_not_retried_as_a_busy_server():
    """OpenAI's 429 `insufficient_quota` went down the capacity path: retried with backoff, a breaker
    opened, until the timeout, for a balance that waiting cannot refill."""
    import httpx2

    provider = OpenAICompatProvider("key", "http://127.0.0.1:9/v1")
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    body = {
        "error": {
            "message": "You exceeded your current quota.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    response = httpx2.Response(429, json=body, request=request)
    failure = provider.classify(openai.RateLimitError("Error code: 429", response=response, body=body))
    assert failure.kind == "auth" and not failure.transient
    assert "no quota left (insufficient_quota): You exceeded your current quota." in failure.message


@pytest.mark.parametrize(
    "body, said",
    [
        ({"detail": "Not authenticated"}, "Not authenticated"),
        ({"error": "key revoked"}, "key revoked"),
        ("upstream says no", "upstream says no"),
    ],
)
def test_a_servers_own_words_are_kept_whatever_shape_its_error_body_has(body, said):
    """Only OpenAI's {"error": {"message": …}} was read; other servers' reasons became 'Error code: 401'."""
    import httpx2

    provider = OpenAICompatProvider("key", "http://127.0.0.1:9/v1")
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx2.Response(401, request=request)
    failure = provider.classify(openai.AuthenticationError("Error code: 401", response=response, body=body))
    assert failure.kind == "auth" and failure.message.endswith(f"(401): {said}")
