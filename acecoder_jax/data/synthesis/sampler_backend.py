"""In-process JAX sampler as a synthesis backend: a local checkpoint (e.g. Qwen2.5-Coder-32B-Instruct
on a TPU slice) writes the questions and tests instead of a remote endpoint."""
from __future__ import annotations

from typing import Sequence

from acecoder_jax.data.synthesis.backend import ChatModel


class SamplerChatModel(ChatModel):
    """Renders each conversation with the tokenizer's chat template and decodes with the sampler."""

    def __init__(self, sampler, *, temperature: float = 0.7, max_new_tokens: int = 2048, seed: int = 0,
                 model_name: str = "jax-sampler"):
        from acecoder_jax.sampling import SamplingParams
        from acecoder_jax.tokenization import stop_token_ids

        if sampler.tokenizer is None:
            raise ValueError("SamplerChatModel needs a Sampler built with a tokenizer")
        self.sampler, self.model_name = sampler, model_name
        self.params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                                     stop_token_ids=tuple(stop_token_ids(sampler.tokenizer)))

    def generate(self, conversations: Sequence[list[dict]]) -> list[str | Exception]:
        from acecoder_jax.tokenization import apply_chat_template

        prompts = [apply_chat_template(self.sampler.tokenizer, c, add_generation_prompt=True) for c in conversations]
        try:
            out = self.sampler.generate(prompts, self.params)
        except ValueError as e:  # e.g. a prompt longer than the largest bucket: fail these seeds, not the run
            return [e] * len(conversations)
        return [group[0].text for group in out]
