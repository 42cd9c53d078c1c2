"""Models and tokenizers named by Hugging Face Hub id, resolved through a cache in the Hub's layout.

The cache is built here the way `huggingface_hub` writes one (blobs named by content hash,
`snapshots/<commit>/` of symlinks, `refs/main`), and every load runs in a fresh process with
`HF_HUB_OFFLINE=1`, as on a TPU host without outbound traffic.
"""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from acecoder_jax.checkpoints import hub
from acecoder_jax.models import export_hf, init_model, preset
from acecoder_jax.tokenization import train_sentencepiece

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CORPUS = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n"] * 30


def _populate(cache: str, repo_id: str, files_dir: str, commit: str = COMMIT) -> str:
    root = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
    snapshot = os.path.join(root, "snapshots", commit)
    os.makedirs(snapshot)
    for name in os.listdir(files_dir):
        data = open(os.path.join(files_dir, name), "rb").read()
        blob = os.path.join(root, "blobs", hashlib.sha256(data).hexdigest())
        with open(blob, "wb") as f:
            f.write(data)
        os.symlink(os.path.relpath(blob, snapshot), os.path.join(snapshot, name))
    os.makedirs(os.path.join(root, "refs"), exist_ok=True)
    with open(os.path.join(root, "refs", "main"), "w") as f:
        f.write(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    tok = train_sentencepiece(CORPUS, 300, str(root / "tok"))
    cfg = preset("tiny", vocab_size=320, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    export_hf(init_model(cfg, head="lm", seed=3), cfg, str(root / "model"), tokenizer_dir=str(root / "tok"))
    cache = str(root / "cache")
    _populate(cache, "acme/tiny-coder", str(root / "model"))
    return cache, str(root / "model")


def _in_offline_process(cache: str, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": cache, "JAX_PLATFORMS": "cpu"}
    env.pop("HF_HOME", None)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_hub_reference_tells_ids_from_paths(tmp_path, monkeypatch):
    assert hub.hub_reference("Qwen/Qwen2.5-Coder-7B-Instruct") == ("Qwen/Qwen2.5-Coder-7B-Instruct", None)
    assert hub.hub_reference("TIGER-Lab/AceCodeRM-7B@v1.0") == ("TIGER-Lab/AceCodeRM-7B", "v1.0")
    assert hub.hub_reference("hf://Qwen/Qwen2.5-0.5B") == ("Qwen/Qwen2.5-0.5B", None)
    for path in ("gs://bucket/qwen7b", "/abs/dir", "./rel/dir", "~/models/x", "single-name", "a/b/c"):
        assert hub.hub_reference(path) is None, path
    existing = tmp_path / "org" / "name"
    existing.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert hub.hub_reference("org/name") is None  # an existing relative dir wins over the Hub
    with pytest.raises(FileNotFoundError, match="not a Hub model id"):
        hub.hub_reference("hf://not an id")


def test_offline_cache_serves_tokenizer_and_weights(hub_cache):
    cache, local = hub_cache
    code = f"""
import json, numpy as np
from acecoder_jax.models import load_hf
from acecoder_jax.tokenization import load_tokenizer
texts = ["def add(a, b):", "for i in range(3):"]
out = {{}}
for name in ("acme/tiny-coder", "hf://acme/tiny-coder", "acme/tiny-coder@{COMMIT}", {local!r}):
    tok = load_tokenizer(name)
    ids = [tok.encode(t) for t in texts]
    model, cfg = load_hf(name)
    x = np.array([ids[0][:4]], dtype=np.int32)
    out[name] = {{"ids": ids, "logits": np.asarray(model(x, np.ones_like(x))).ravel()[:64].tolist()}}
print(json.dumps(out))
"""
    proc = _in_offline_process(cache, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    reference = out.pop(local)
    assert reference["ids"][0], "tokenizer encoded nothing"
    for name, got in out.items():
        assert got["ids"] == reference["ids"], name
        np.testing.assert_array_equal(np.array(got["logits"]), np.array(reference["logits"]), err_msg=name)


def test_offline_miss_is_one_clear_error(hub_cache):
    cache, _ = hub_cache
    code = """
from acecoder_jax.tokenization import load_tokenizer
from acecoder_jax.models import load_hf
for load, name in ((load_tokenizer, "acme/not-cached"), (load_hf, "acme/tiny-coder@v9")):
    try:
        load(name)
    except FileNotFoundError as e:
        print(e)
    else:
        print("loaded", name)
"""
    proc = _in_offline_process(cache, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout
    assert "tokenizer 'acme/not-cached' is not a local directory" in lines[0]
    assert "HF_HUB_OFFLINE=1" in lines[0] and cache in lines[0]
    assert "model 'acme/tiny-coder@v9'" in lines[1] and "@v9" in lines[1]


def test_launcher_answers_uncached_hub_id_in_one_line(hub_cache):
    cache, _ = hub_cache
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": cache, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "launch/train_lm.py", "--config=configs/lm.py:cpu_tiny",
                           "--config.model.tokenizer=Qwen/Qwen2.5-Coder-7B-Instruct", "--workdir=/tmp/unused-hub-test"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("error: tokenizer 'Qwen/Qwen2.5-Coder-7B-Instruct' is not a local directory"), err
    assert "Traceback" not in proc.stderr
