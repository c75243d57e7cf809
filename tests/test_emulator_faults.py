"""Every injectable fault, seen through the real SDK exactly as a client meets it."""

from __future__ import annotations

import time

import httpx2
import pytest
from google.genai import errors

MODEL = "gemini-2.5-flash"
LONG = "a long answer please [[tokens=300]]"


def accepted(emulator, model: str = MODEL) -> int:
    return emulator.counters().get("demo", {}).get(model, {}).get("accepted", 0)


def test_overloaded_is_503_and_costs_no_quota(make_client, emulator):
    emulator.set_fault("overloaded")
    client = make_client()
    with pytest.raises(errors.ServerError) as info:
        client.models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 503
    assert info.value.status == "UNAVAILABLE"
    assert info.value.message == "The model is overloaded. Please try again later."
    assert accepted(emulator) == 0
    assert client.models.generate_content(model=MODEL, contents="x").text  # count=1: spent


def test_internal_is_500(make_client, emulator):
    emulator.set_fault("internal")
    client = make_client()
    with pytest.raises(errors.ServerError) as info:
        client.models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 500
    assert info.value.status == "INTERNAL"


def test_bare_429_has_no_details(make_client, emulator):
    emulator.set_fault("bare_429")
    client = make_client()
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 429
    assert info.value.status == "RESOURCE_EXHAUSTED"
    assert info.value.message == "Resource has been exhausted (e.g. check quota)."
    assert "details" not in info.value.details["error"]
    counters = emulator.counters().get("demo", {}).get(MODEL, {})
    assert counters.get("accepted", 0) == 0 and counters.get("rejected_429", 0) == 0


def test_stream_error_arrives_after_earlier_chunks(make_client, emulator):
    emulator.set_fault("stream_error", after_chunks=2)
    client = make_client()
    seen = []
    with pytest.raises(errors.ServerError) as info:
        for chunk in client.models.generate_content_stream(model=MODEL, contents=LONG):
            seen.append(chunk.text)
    assert len(seen) == 2
    assert info.value.code == 500
    assert accepted(emulator) == 1  # the request was accepted before the stream broke


async def test_stream_error_async(make_client, emulator):
    emulator.set_fault("stream_error", after_chunks=3)
    client = make_client()
    seen = []
    with pytest.raises(errors.ServerError):
        async for chunk in await client.aio.models.generate_content_stream(model=MODEL, contents=LONG):
            seen.append(chunk)
    assert len(seen) == 3


def test_cut_stream_raises_transport_error_after_chunks(make_client, emulator):
    emulator.set_fault("cut_stream", after_chunks=2)
    client = make_client()
    seen = []
    with pytest.raises(httpx2.RemoteProtocolError):
        for chunk in client.models.generate_content_stream(model=MODEL, contents=LONG):
            seen.append(chunk)
    assert len(seen) == 2
    assert all(c.candidates[0].finish_reason is None for c in seen)
    assert not issubclass(httpx2.RemoteProtocolError, errors.APIError)
    assert accepted(emulator) == 1
    # the server survives the cut
    assert client.models.generate_content(model=MODEL, contents="after the cut").text


async def test_cut_stream_async(make_client, emulator):
    emulator.set_fault("cut_stream", after_chunks=1)
    client = make_client()
    seen = []
    with pytest.raises(httpx2.RemoteProtocolError):
        async for chunk in await client.aio.models.generate_content_stream(model=MODEL, contents=LONG):
            seen.append(chunk)
    assert len(seen) == 1


def test_stream_faults_leave_plain_generate_alone(make_client, emulator):
    emulator.set_fault("cut_stream")
    client = make_client()
    assert client.models.generate_content(model=MODEL, contents="not a stream").text
    with pytest.raises(httpx2.RemoteProtocolError):
        list(client.models.generate_content_stream(model=MODEL, contents=LONG))


def test_slow_first_byte(make_client, emulator):
    emulator.set_fault("slow_first_byte", seconds=0.4)
    client = make_client()
    started = time.monotonic()
    resp = client.models.generate_content(model=MODEL, contents="x")
    assert time.monotonic() - started >= 0.4
    assert resp.text
    assert accepted(emulator) == 1  # slow, but answered


def test_html_page_is_an_api_error_carrying_the_page(make_client, emulator):
    emulator.set_fault("html_page")
    client = make_client()
    with pytest.raises(errors.APIError) as info:
        client.models.generate_content(model=MODEL, contents="x")
    assert isinstance(info.value, errors.ServerError)
    assert info.value.code == 502
    assert "<html>" in info.value.message and "Bad Gateway" in info.value.message
    assert accepted(emulator) == 0


def test_fault_count_and_model_filter(make_client, emulator):
    emulator.set_fault("overloaded", count=2, model="gemini-2.5-pro")
    client = make_client()
    assert client.models.generate_content(model=MODEL, contents="other model").text
    for _ in range(2):
        with pytest.raises(errors.ServerError):
            client.models.generate_content(model="gemini-2.5-pro", contents="x")
    assert client.models.generate_content(model="gemini-2.5-pro", contents="x").text


def test_faults_apply_in_order_and_clear(make_client, emulator):
    emulator.set_fault("internal")
    emulator.set_fault("overloaded")
    client = make_client()
    with pytest.raises(errors.ServerError) as first:
        client.models.generate_content(model=MODEL, contents="x")
    assert first.value.code == 500
    emulator.clear_faults()
    assert client.models.generate_content(model=MODEL, contents="x").text


def test_unknown_fault_is_refused(emulator):
    with pytest.raises(ValueError):
        emulator.set_fault("gremlins")
