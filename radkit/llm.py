"""OpenAI-compatible chat client returning validated JSON (stdlib only).

Used by the optional LLM report structurer and by the reasoning teachers/judges.
The user points ``base_url`` at any server that speaks the OpenAI
``POST {base_url}/chat/completions`` protocol (a local vLLM, llama.cpp, ...).

Behaviour:
- ``chat_json`` extracts the first JSON object of the reply (plain, or inside a
  fenced code block), checks it with ``schema_keys`` (required top-level keys)
  or a callable validator, and retries on invalid JSON, HTTP 429/5xx, connection
  errors and timeouts with exponential backoff. After ``max_retries`` retries it
  raises `LLMError` naming the last failure.
- With ``cache_dir`` set, successful replies are stored on disk keyed by the
  SHA-256 of the request (model, messages, temperature, max_tokens), so reruns are
  free and deterministic. Invalid replies are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Sequence

Validator = Callable[[dict], Any]
_RETRY_HTTP = {408, 409, 425, 429, 500, 502, 503, 504}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


class LLMError(RuntimeError):
    """The LLM server could not produce a valid answer (after retries)."""


def extract_json(text: str) -> dict:
    """Parse the first JSON object in ``text`` (bare or in a fenced code block).

    Raises:
        ValueError: no JSON object could be parsed.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    dec = json.JSONDecoder()
    for cand in candidates:
        cand = cand.strip()
        for start in [i for i, ch in enumerate(cand) if ch == "{"][:20]:
            try:
                obj, _ = dec.raw_decode(cand[start:])
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise ValueError(f"no JSON object in reply: {text[:200]!r}")


class LLMClient:
    """Minimal OpenAI-compatible chat client with JSON validation, retries and a disk cache.

    Args:
        base_url: server root including the API prefix, e.g. ``http://127.0.0.1:8000/v1``.
        model: model name sent in the request.
        api_key: optional bearer token (else ``$OPENAI_API_KEY`` if set).
        cache_dir: folder for the on-disk reply cache; None disables caching.
        max_retries: retries after the first attempt (so ``max_retries + 1`` attempts).
        timeout: seconds per HTTP request.
        temperature: sampling temperature sent to the server (0 = deterministic).
        max_tokens: optional completion cap.
        backoff: first retry delay in seconds; doubles each retry.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 cache_dir: str | os.PathLike | None = None, max_retries: int = 3, timeout: float = 60,
                 temperature: float = 0.0, max_tokens: int | None = None, backoff: float = 0.5) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"LLM base_url {base_url!r} must start with http:// or https://, "
                             "e.g. http://127.0.0.1:8000/v1 for a local vLLM server")
        if max_retries < 0:
            raise ValueError(f"max_retries={max_retries} must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.max_retries = max_retries
        self.timeout = timeout
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.backoff = backoff

    # -- public API -------------------------------------------------------------------------------

    def chat(self, messages: Sequence[dict]) -> str:
        """Send ``messages`` ([{"role", "content"}]) and return the reply text (cached, retried)."""
        return self._run(messages, parse=None)[0]

    def chat_json(self, messages: Sequence[dict],
                  schema_keys: Sequence[str] | Validator | None = None) -> dict:
        """Send ``messages`` and return the JSON object of the reply.

        Args:
            messages: OpenAI chat messages.
            schema_keys: required top-level keys, or a callable that raises (or returns
                False) when the parsed object is invalid.

        Raises:
            LLMError: no valid JSON after ``max_retries`` retries.
        """
        def parse(text: str) -> dict:
            obj = extract_json(text)
            if callable(schema_keys):
                if schema_keys(obj) is False:
                    raise ValueError("validator rejected the reply")
            elif schema_keys:
                missing = [k for k in schema_keys if k not in obj]
                if missing:
                    raise ValueError(f"reply JSON lacks required keys {missing}")
            return obj

        return self._run(messages, parse=parse)[1]

    # -- internals --------------------------------------------------------------------------------

    def _payload(self, messages: Sequence[dict]) -> dict:
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), "temperature": self.temperature}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    def _cache_path(self, body: dict) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(json.dumps([self.base_url, body], sort_keys=True).encode()).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    def _post(self, body: dict) -> str:
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            data = json.loads(resp.read().decode("utf-8"))
        try:
            return data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"server reply is not an OpenAI chat completion: {str(data)[:200]}") from None

    def _run(self, messages: Sequence[dict], parse: Callable[[str], dict] | None) -> tuple[str, Any]:
        body = self._payload(messages)
        cpath = self._cache_path(body)
        if cpath is not None and cpath.is_file():
            text = json.loads(cpath.read_text(encoding="utf-8"))["content"]
            try:
                return text, (parse(text) if parse else None)
            except ValueError:
                pass  # a cached reply that fails this validator: ask the server again
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                text = self._post(body)
                parsed = parse(text) if parse else None
            except urllib.error.HTTPError as e:
                last = e
                if e.code not in _RETRY_HTTP:
                    raise LLMError(f"LLM server {self.base_url} answered HTTP {e.code} ({e.reason}); "
                                   "check base_url, model name and api_key") from None
                continue
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as e:
                last = e
                continue
            except ValueError as e:  # bad JSON / failed validation
                last = e
                continue
            if cpath is not None:
                from radkit.fileio import atomic_write_bytes

                atomic_write_bytes(cpath, json.dumps({"request": body, "content": text}).encode("utf-8"))
            return text, parsed
        raise LLMError(f"LLM at {self.base_url} (model {self.model!r}) gave no valid answer after "
                       f"{self.max_retries + 1} attempts; last error: {last}. Check that the server runs "
                       "and that the model follows the JSON instructions, or raise max_retries")
