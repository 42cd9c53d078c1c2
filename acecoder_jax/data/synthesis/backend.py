"""Synthesis backend interface.

`Synthesizer.synthesize(seeds)` maps seed records to `SynthesisResult`s (one per seed, same order).
Backends that are language models implement only `ChatModel.generate(list of message lists) ->
list of reply texts`; `LLMSynthesizer` adds the prompt and the parser around any of them. So the
in-process JAX sampler becomes a backend by adding one small ChatModel subclass that renders the
messages with the tokenizer's chat template and decodes with the sampler.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Sequence

from acecoder_jax.data.synthesis import parser, prompt


@dataclasses.dataclass
class SynthesisResult:
    seed_id: str
    question: str | None = None
    tests: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None  # short category when nothing usable came back
    detail: str = ""
    raw: str = ""  # the backend's raw reply, for debugging rejects
    invalid_tests: int = 0
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class Synthesizer(abc.ABC):
    name: str = "synthesizer"

    @abc.abstractmethod
    def synthesize(self, seeds: Sequence[dict]) -> list[SynthesisResult]:
        """One result per seed, in order. Must not raise for a single bad seed."""

    def close(self) -> None:
        """Release what the synthesizer holds (an executor's pool); the stage calls it at its end."""


class ChatModel(abc.ABC):
    """Anything that answers chat messages with text (remote endpoint, in-process sampler)."""

    model_name: str = "chat-model"

    @abc.abstractmethod
    def generate(self, conversations: Sequence[list[dict]]) -> list[str | Exception]:
        """One reply text per conversation, in order; a failed request yields its exception."""


class LLMSynthesizer(Synthesizer):
    """Prompt + any ChatModel + the tolerant parser."""

    def __init__(self, model: ChatModel, num_tests: int = 20):
        self.model, self.num_tests = model, num_tests
        self.name = f"llm:{model.model_name}"

    def synthesize(self, seeds: Sequence[dict]) -> list[SynthesisResult]:
        convs = [prompt.synthesis_messages(s.get("instruction", ""), s["program"], self.num_tests) for s in seeds]
        replies = self.model.generate(convs)
        results = []
        for seed, reply in zip(seeds, replies):
            sid = str(seed["id"])
            if isinstance(reply, Exception):
                results.append(SynthesisResult(sid, error="backend_error", detail=f"{type(reply).__name__}: {reply}"))
                continue
            try:
                parsed = parser.parse_synthesis(reply)
            except parser.SynthesisParseError as e:
                results.append(SynthesisResult(sid, error=e.reason, detail=e.detail, raw=reply))
                continue
            results.append(SynthesisResult(sid, question=parsed.question, tests=parsed.tests, raw=reply,
                                           invalid_tests=len(parsed.invalid_tests), repaired=parsed.repaired))
        return results
