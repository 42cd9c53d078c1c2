"""ChatModel over an OpenAI-compatible /chat/completions endpoint.

Standard library HTTP only. Requests run concurrently in a thread pool; 429 / 5xx / connection
errors are retried with exponential backoff (honouring Retry-After); every successful reply is
stored in a persistent cache (a directory, local or gs://) keyed by a hash of the full request, so
a rerun of a stage pays for nothing it already got.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Sequence

from acecoder_jax.data import io
from acecoder_jax.data.synthesis.backend import ChatModel

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)


class EndpointError(RuntimeError):
    def __init__(self, status: int | None, message: str):
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


class OpenAIChatModel(ChatModel):
    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY",
                 temperature: float = 0.7, max_tokens: int = 2048, concurrency: int = 8,
                 max_retries: int = 6, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 timeout_s: float = 120.0, cache_dir: str | None = None, extra_body: dict | None = None):
        if not base_url:
            raise ValueError("OpenAI-compatible backend needs base_url (e.g. https://host/v1)")
        if not model:
            raise ValueError("OpenAI-compatible backend needs a model name")
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.api_key = os.environ.get(api_key_env, "") if api_key_env else ""
        self.temperature, self.max_tokens = temperature, max_tokens
        self.concurrency, self.max_retries = max(1, concurrency), max_retries
        self.backoff_s, self.max_backoff_s, self.timeout_s = backoff_s, max_backoff_s, timeout_s
        self.cache_dir, self.extra_body = cache_dir, dict(extra_body or {})
        self.stats = {"requests": 0, "retries": 0, "cache_hits": 0, "failures": 0}
        self._lock = threading.Lock()

    def _bump(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    # ---- request / cache ----
    def request_body(self, messages: list[dict]) -> dict:
        return {"model": self.model_name, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens, **self.extra_body}

    @staticmethod
    def cache_key(body: dict) -> str:
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def _cache_path(self, key: str) -> str | None:
        return io.join(self.cache_dir, key[:2], key + ".json") if self.cache_dir else None

    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def _sleep_for(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff_s)
            except ValueError:
                pass
        return min(self.backoff_s * (2 ** attempt), self.max_backoff_s) * (0.5 + random.random() / 2)

    def complete(self, messages: list[dict]) -> str:
        """One reply text (cached); raises EndpointError after exhausting retries."""
        body = self.request_body(messages)
        cache = self._cache_path(self.cache_key(body))
        if cache and io.exists(cache):
            self._bump("cache_hits")
            return io.read_json(cache)["content"]
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            self._bump("requests")
            retry_after = None
            try:
                reply = self._post(body)
                content = reply["choices"][0]["message"]["content"]
                if not isinstance(content, str):
                    raise EndpointError(None, f"reply content is {type(content).__name__}, not text")
                if cache:
                    io.write_json(cache, {"request": body, "content": content})
                return content
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                last = EndpointError(e.code, detail)
                if e.code not in RETRY_STATUS:
                    break
                retry_after = e.headers.get("Retry-After") if e.headers else None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                last = EndpointError(None, f"connection failed: {e}")
            except (KeyError, IndexError, TypeError, json.JSONDecodeError) as e:
                last = EndpointError(None, f"malformed reply: {type(e).__name__}: {e}")
            if attempt < self.max_retries:
                self._bump("retries")
                time.sleep(self._sleep_for(attempt, retry_after))
        self._bump("failures")
        raise last  # type: ignore[misc]

    def generate(self, conversations: Sequence[list[dict]]) -> list[str | Exception]:
        def one(messages):
            try:
                return self.complete(messages)
            except Exception as e:  # noqa: BLE001 - surfaced per conversation
                return e
        with concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, conversations))
