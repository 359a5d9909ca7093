"""LLMClient against a fake OpenAI-compatible server on 127.0.0.1."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_llm import FakeLLMServer  # noqa: E402

from radkit.llm import LLMClient, LLMError, extract_json  # noqa: E402

MSG = [{"role": "user", "content": "give json"}]


def test_extract_json_variants():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure! ```json\n{"a": [1, 2]}\n``` done') == {"a": [1, 2]}
    assert extract_json('prefix {"b": {"c": 2}} suffix') == {"b": {"c": 2}}
    with pytest.raises(ValueError):
        extract_json("no json here")


def test_chat_json_and_request_shape():
    with FakeLLMServer(['{"answer": "yes", "score": 0.5}']) as srv:
        client = LLMClient(srv.url, "tiny-model", api_key="secret", backoff=0)
        out = client.chat_json(MSG, schema_keys=["answer"])
        assert out == {"answer": "yes", "score": 0.5}
        assert srv.requests[0]["model"] == "tiny-model"
        assert srv.requests[0]["messages"] == MSG
        assert srv.headers[0]["Authorization"] == "Bearer secret"
        assert client.chat(MSG) == '{"answer": "yes", "score": 0.5}'


def test_retries_on_bad_json_5xx_and_missing_keys():
    with FakeLLMServer(["not json", 503, '{"other": 1}', '{"answer": 3}']) as srv:
        client = LLMClient(srv.url, "m", max_retries=3, backoff=0)
        assert client.chat_json(MSG, schema_keys=["answer"]) == {"answer": 3}
        assert len(srv.requests) == 4


def test_gives_up_with_clear_error():
    with FakeLLMServer(["still not json"]) as srv:
        client = LLMClient(srv.url, "m", max_retries=2, backoff=0)
        with pytest.raises(LLMError, match="after 3 attempts"):
            client.chat_json(MSG)
        assert len(srv.requests) == 3


def test_client_error_not_retried():
    with FakeLLMServer([404]) as srv:
        client = LLMClient(srv.url, "m", max_retries=3, backoff=0)
        with pytest.raises(LLMError, match="HTTP 404"):
            client.chat_json(MSG)
        assert len(srv.requests) == 1


def test_callable_validator():
    with FakeLLMServer(['{"n": -1}', '{"n": 2}']) as srv:
        client = LLMClient(srv.url, "m", backoff=0)

        def positive(obj):
            if obj["n"] <= 0:
                raise ValueError("n must be positive")

        assert client.chat_json(MSG, schema_keys=positive) == {"n": 2}


def test_disk_cache(tmp_path):
    with FakeLLMServer(['{"v": 1}', '{"v": 2}']) as srv:
        client = LLMClient(srv.url, "m", cache_dir=tmp_path, backoff=0)
        assert client.chat_json(MSG) == {"v": 1}
        assert client.chat_json(MSG) == {"v": 1}  # served from cache
        assert len(srv.requests) == 1
        assert client.chat_json([{"role": "user", "content": "other"}]) == {"v": 2}
        assert len(srv.requests) == 2
        files = list(tmp_path.rglob("*.json"))
        assert len(files) == 2 and "request" in json.loads(files[0].read_text())


def test_unreachable_server_and_bad_url():
    with pytest.raises(ValueError, match="http"):
        LLMClient("localhost:8000", "m")
    # port 9 on localhost: connection refused quickly
    client = LLMClient("http://127.0.0.1:9/v1", "m", max_retries=1, backoff=0, timeout=2)
    with pytest.raises(LLMError, match="after 2 attempts"):
        client.chat(MSG)
