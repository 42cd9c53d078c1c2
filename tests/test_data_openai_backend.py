"""OpenAI-compatible backend against a real HTTP server on loopback speaking the protocol."""
import http.server
import json
import threading

import pytest

from acecoder_jax.data.synthesis.backend import LLMSynthesizer
from acecoder_jax.data.synthesis.openai_backend import EndpointError, OpenAIChatModel


class FakeEndpoint:
    """Scripted /v1/chat/completions: a queue of (status, body, headers) per request, then echo."""

    def __init__(self):
        self.requests, self.script, self.lock = [], [], threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner.lock:
                    owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                           "body": body})
                    status, payload, headers = owner.script.pop(0) if owner.script else (200, None, {})
                if payload is None:
                    user = body["messages"][-1]["content"]
                    reply = json.dumps({"question": "Echo: " + user[-40:], "tests": ["assert f(1) == 1"]})
                    payload = {"id": "x", "object": "chat.completion",
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                            "finish_reason": "stop"}]}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    ep = FakeEndpoint()
    yield ep
    ep.close()


def _model(endpoint, tmp_path, **kw):
    return OpenAIChatModel(endpoint.url, "test-model", api_key_env="FAKE_KEY_FOR_TEST", backoff_s=0.01,
                           cache_dir=str(tmp_path / "cache"), **kw)


def test_request_shape_and_key(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY_FOR_TEST", "sk-test")
    model = _model(endpoint, tmp_path, temperature=0.7, max_tokens=321)
    out = model.generate([[{"role": "user", "content": "hello"}]])
    assert json.loads(out[0])["question"].startswith("Echo:")
    req = endpoint.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "test-model" and req["body"]["temperature"] == 0.7
    assert req["body"]["max_tokens"] == 321 and req["body"]["messages"][0]["content"] == "hello"


def test_retries_429_and_500_then_succeeds(endpoint, tmp_path):
    endpoint.script = [(429, {"error": "slow down"}, {"Retry-After": "0"}), (500, {"error": "oops"}, {}),
                       (503, {"error": "busy"}, {})]
    model = _model(endpoint, tmp_path, max_retries=5)
    out = model.generate([[{"role": "user", "content": "retry me"}]])
    assert isinstance(out[0], str)
    assert len(endpoint.requests) == 4 and model.stats["retries"] == 3


def test_gives_up_after_max_retries_and_does_not_retry_400(endpoint, tmp_path):
    endpoint.script = [(500, {"error": "down"}, {})] * 3
    model = _model(endpoint, tmp_path, max_retries=2)
    out = model.generate([[{"role": "user", "content": "never"}]])
    assert isinstance(out[0], EndpointError) and out[0].status == 500 and len(endpoint.requests) == 3
    endpoint.script = [(400, {"error": "bad request"}, {})]
    out = model.generate([[{"role": "user", "content": "bad"}]])
    assert isinstance(out[0], EndpointError) and out[0].status == 400 and len(endpoint.requests) == 4


def test_cache_makes_rerun_free(endpoint, tmp_path):
    convs = [[{"role": "user", "content": f"q{i}"}] for i in range(6)]
    first = _model(endpoint, tmp_path, concurrency=3).generate(convs)
    assert len(endpoint.requests) == 6
    again = _model(endpoint, tmp_path, concurrency=3)  # a new process would see the same directory
    second = again.generate(convs)
    assert second == first and len(endpoint.requests) == 6 and again.stats["cache_hits"] == 6
    # a different request (temperature) is a different key
    _model(endpoint, tmp_path, temperature=0.1).generate(convs[:1])
    assert len(endpoint.requests) == 7


def test_malformed_reply_is_an_error_not_a_crash(endpoint, tmp_path):
    endpoint.script = [(200, {"nothing": "here"}, {})]
    out = _model(endpoint, tmp_path, max_retries=0).generate([[{"role": "user", "content": "x"}]])
    assert isinstance(out[0], EndpointError) and "malformed reply" in str(out[0])


def test_llm_synthesizer_end_to_end(endpoint, tmp_path):
    seeds = [{"id": "s1", "instruction": "add", "program": "def f(x):\n    return x\n"},
             {"id": "s2", "instruction": "id", "program": "def f(x):\n    return x\n"}]
    endpoint.script = [(200, {"choices": [{"message": {"content": "no json at all"}}]}, {})]
    syn = LLMSynthesizer(_model(endpoint, tmp_path, concurrency=1), num_tests=20)
    results = syn.synthesize(seeds)
    assert [r.seed_id for r in results] == ["s1", "s2"]
    assert results[0].error == "no_json" and results[0].raw == "no json at all"
    assert results[1].ok and results[1].tests == ["assert f(1) == 1"]
    prompt = endpoint.requests[1]["body"]["messages"][1]["content"]
    assert "about 20 test cases" in prompt and "def f(x)" in prompt
