"""Sampler: greedy == step-by-step argmax, padding invariance, nucleus, stops, log-probs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acecoder_jax.models import init_model, preset
from acecoder_jax.parallel import make_mesh
from acecoder_jax.sampling import Sampler, SamplingParams, filter_logits

PROMPTS = [[5, 6, 7], [8, 9, 10, 11, 12], [3] * 10, [40, 41]]


@pytest.fixture(scope="module")
def model():
    return init_model(preset("tiny"), seed=0)


def reference_greedy(model, prompt, steps):
    ids = list(prompt)
    for _ in range(steps):
        logits = model(np.array([ids]), np.ones((1, len(ids))))
        ids.append(int(jnp.argmax(logits[0, -1])))
    logp = jax.nn.log_softmax(model(np.array([ids]), np.ones((1, len(ids))))[0], -1)
    ref_lp = [float(logp[len(prompt) - 1 + i, ids[len(prompt) + i]]) for i in range(steps)]
    return ids[len(prompt):], np.array(ref_lp)


@pytest.mark.parametrize("scan", [False, True])
def test_greedy_equals_full_forward_argmax_and_logprobs(model, scan):
    m = init_model(preset("tiny", scan_layers=scan), seed=0)
    sampler = Sampler(m, batch_size=4, prompt_buckets=(8, 16))
    out = sampler.generate_ids(PROMPTS, SamplingParams(max_new_tokens=8, temperature=0))
    for prompt, (c,) in zip(PROMPTS, out):
        tokens, logprobs = reference_greedy(model, prompt, 8)
        assert c.tokens.tolist() == tokens and c.finish_reason == "length"
        assert np.abs(c.logprobs - logprobs).max() < 1e-4


def test_left_padding_and_batch_mates_do_not_change_outputs(model):
    sp = SamplingParams(max_new_tokens=6, temperature=0)
    alone = Sampler(model, batch_size=1, prompt_buckets=(4,)).generate_ids([PROMPTS[0]], sp)[0][0]
    for bucket, bs in [(16, 4), (32, 2)]:
        mixed = Sampler(model, batch_size=bs, prompt_buckets=(bucket,)).generate_ids(PROMPTS, sp)[0][0]
        assert mixed.tokens.tolist() == alone.tokens.tolist()


def test_sharded_sampler_matches_single_device(model):
    sp = SamplingParams(max_new_tokens=6, temperature=0)
    ref = Sampler(model, batch_size=4, prompt_buckets=(16,)).generate_ids(PROMPTS, sp)
    sharded = init_model(preset("tiny"), seed=0, mesh=make_mesh((2, 2, 2)))
    out = Sampler(sharded, batch_size=4, prompt_buckets=(16,)).generate_ids(PROMPTS, sp)
    assert [c[0].tokens.tolist() for c in out] == [c[0].tokens.tolist() for c in ref]


def test_top_p_keeps_exactly_the_nucleus():
    probs = np.array([[0.5, 0.2, 0.15, 0.1, 0.05]])
    logits = jnp.log(jnp.asarray(probs))
    for top_p, kept in [(0.5, 1), (0.51, 2), (0.7, 2), (0.71, 3), (0.95, 5 - 1), (0.951, 5), (1.0, 5)]:
        finite = np.asarray(filter_logits(logits, top_p=top_p)) > -1e30
        assert finite[0].tolist() == [True] * kept + [False] * (5 - kept), (top_p, finite)
    finite = np.asarray(filter_logits(logits, top_k=2)) > -1e30
    assert finite[0].tolist() == [True, True, False, False, False]


def test_sampling_respects_nucleus_and_seed(model):
    sp = SamplingParams(max_new_tokens=4, temperature=1.0, top_p=0.3, n=6, seed=3)
    sampler = Sampler(model, batch_size=8, prompt_buckets=(16,))
    out = sampler.generate_ids(PROMPTS[:2], sp)
    again = sampler.generate_ids(PROMPTS[:2], sp)
    assert [c.tokens.tolist() for g in out for c in g] == [c.tokens.tolist() for g in again for c in g]
    # every sampled first token lies in the nucleus of the model's distribution
    for prompt, group in zip(PROMPTS[:2], out):
        logits = model(np.array([prompt]), np.ones((1, len(prompt))))[:, -1]
        keep = np.asarray(filter_logits(logits, top_p=0.3))[0] > -1e30
        assert all(keep[c.tokens[0]] for c in group)
    assert len(out) == 2 and all(len(g) == 6 for g in out)


def test_eos_ends_each_row_independently(model):
    greedy = Sampler(model, batch_size=4, prompt_buckets=(16,)).generate_ids(
        PROMPTS, SamplingParams(max_new_tokens=8, temperature=0))
    # make row 0's third token and row 1's fifth token the stop ids
    stop = (int(greedy[0][0].tokens[2]), int(greedy[1][0].tokens[4]))
    out = Sampler(model, batch_size=4, prompt_buckets=(16,)).generate_ids(
        PROMPTS, SamplingParams(max_new_tokens=8, temperature=0, stop_token_ids=stop))
    for g, o in zip(greedy, out):
        full = g[0].tokens.tolist()
        first = next((i for i, t in enumerate(full) if t in stop), None)
        if first is None:
            assert o[0].tokens.tolist() == full and o[0].finish_reason == "length"
        else:
            assert o[0].tokens.tolist() == full[: first + 1] and o[0].finish_reason == "stop"
    assert len(out[0][0].tokens) <= 3 and len(out[1][0].tokens) <= 5


class CharTokenizer:
    """Minimal tokenizer: token id i <-> chr(97 + i % 26); enough to test stop strings."""

    def decode(self, ids, skip_special_tokens=False):
        return "".join(chr(97 + int(i) % 26) for i in ids)


def test_stop_strings_end_each_row_independently(model):
    sp = SamplingParams(max_new_tokens=12, temperature=0)
    greedy = Sampler(model, batch_size=4, prompt_buckets=(16,)).generate_ids(PROMPTS, sp)
    tok = CharTokenizer()
    texts = [tok.decode(g[0].tokens) for g in greedy]
    stop = texts[0][3:5]  # occurs in row 0 at position 3
    sampler = Sampler(model, tok, batch_size=4, prompt_buckets=(16,), stop_check_every=2)
    out = sampler.generate_ids(PROMPTS, SamplingParams(max_new_tokens=12, temperature=0, stop_strings=(stop,)))
    for text, (o,) in zip(texts, out):
        if stop in text:
            k = text.index(stop)
            assert o.text == text[:k] and o.finish_reason == "stop"
            assert len(o.tokens) == k + len(stop)  # trimmed right after the stop string
        else:
            assert o.text == text and o.finish_reason == "length"


def test_bad_requests_are_rejected(model):
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
    sampler = Sampler(model, batch_size=2, prompt_buckets=(4,))
    with pytest.raises(ValueError, match=r"prompt of \d+ tokens exceeds the largest bucket"):
        sampler.generate_ids([[1] * 9], SamplingParams(max_new_tokens=2))
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        sampler.generate_ids([[1], []], SamplingParams(max_new_tokens=2))
