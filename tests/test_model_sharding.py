"""Meshes on 8 simulated CPU devices, multi-process gloo forward, orbax roundtrip, bad inputs."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from flax import nnx

from acecoder_jax.checkpoints.orbax import Checkpointer
from acecoder_jax.models import ModelConfig, UnsupportedArchitectureError, init_model, load_hf
from acecoder_jax.parallel import logical_to_spec, make_mesh
from tests.hf_fixtures import left_padded_batch, make_hf_model

MESHES = [(8, 1, 1), (1, 8, 1), (1, 4, 2), (2, 2, 2)]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    make_hf_model("qwen2").save_pretrained(d, max_shard_size="40KB")
    return str(d)


def test_mesh_fills_minus_one_and_rejects_bad_shapes():
    assert dict(make_mesh((2, -1, 2)).shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    with pytest.raises(ValueError, match="does not divide"):
        make_mesh((3, -1, 1))
    with pytest.raises(ValueError, match="at most one"):
        make_mesh((-1, -1, 1))


def test_rules_use_each_mesh_axis_once_and_only_when_divisible():
    mesh = make_mesh((1, 4, 2))
    assert logical_to_spec(("embed", "heads", "head_dim"), (64, 4, 16), mesh) == jax.sharding.PartitionSpec(
        "fsdp", "tensor", None)
    # 3 kv heads cannot split over tensor=2: replicated rather than an error
    assert logical_to_spec(("embed", "kv_heads", "head_dim"), (64, 3, 16), mesh)[1] is None
    mesh = make_mesh((2, 2, 2))
    assert logical_to_spec(("act_batch", "act_length", "act_embed"), (8, 5, 64), mesh)[0] == ("data", "fsdp")
    with pytest.raises(KeyError, match="no rule"):
        logical_to_spec(("nonsense",), (4,), mesh)


@pytest.mark.parametrize("shape", MESHES)
@pytest.mark.parametrize("scan", [False, True])
def test_sharded_forward_matches_single_device(hf_dir, shape, scan):
    ids, mask = left_padded_batch(batch=8, length=12)
    single, _ = load_hf(hf_dir, scan_layers=scan)
    ref = np.asarray(single(ids, mask))
    mesh = make_mesh(shape)
    model, _ = load_hf(hf_dir, mesh=mesh, scan_layers=scan)
    q = model.layers.attn.q_proj[...]
    assert len(q.sharding.device_set) == 8 and q.sharding.mesh.shape == mesh.shape

    @nnx.jit
    def fwd(m, ids, mask):
        return m(ids, mask)

    out = np.asarray(fwd(model, ids, mask))
    assert np.abs(out - ref).max() <= 1e-5


def test_remat_and_scan_do_not_change_gradients(hf_dir):
    ids, mask = left_padded_batch()
    grads = []
    for kw in [dict(), dict(scan_layers=True, remat="full"), dict(remat="dots")]:
        model, _ = load_hf(hf_dir, head="reward", **kw)
        g = nnx.grad(lambda m: m(ids, mask).sum())(model)
        grads.append(jax.tree.leaves(g))
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


_WORKER = textwrap.dedent("""
    import os, sys, json
    import numpy as np
    import jax
    from acecoder_jax.parallel import initialize_multihost, make_mesh
    assert initialize_multihost()
    from acecoder_jax.models import load_hf
    from flax import nnx
    from jax.experimental import multihost_utils
    sys.path.insert(0, os.environ["REPO"])
    from tests.hf_fixtures import left_padded_batch
    mesh = make_mesh((2, 2, 1))  # 2 processes x 2 local devices
    model, _ = load_hf(os.environ["HF_DIR"], mesh=mesh)
    ids, mask = left_padded_batch(batch=4, length=12)
    out = nnx.jit(lambda m, i, a: m(i, a))(model, ids, mask)
    out = multihost_utils.process_allgather(out, tiled=True)
    if jax.process_index() == 0:
        np.save(os.environ["OUT"], np.asarray(out))
    print("process", jax.process_index(), "of", jax.process_count(), "devices", jax.device_count())
""")


def test_two_process_gloo_sharded_forward(hf_dir, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for pid in range(2):
        env = dict(os.environ, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2",
                   JAX_PROCESS_ID=str(pid), XLA_FLAGS="--xla_force_host_platform_device_count=2",
                   JAX_PLATFORMS="cpu", HF_DIR=hf_dir, OUT=str(tmp_path / "out.npy"), REPO=repo)
        procs.append(subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=240)[0])
        finally:
            p.kill()
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    assert "devices 4" in logs[0]
    single, _ = load_hf(hf_dir)
    ids, mask = left_padded_batch(batch=4, length=12)
    assert np.abs(np.load(tmp_path / "out.npy") - np.asarray(single(ids, mask))).max() <= 1e-5


def test_orbax_roundtrip_onto_another_mesh(hf_dir, tmp_path):
    saved_model, _ = load_hf(hf_dir, mesh=make_mesh((2, 2, 2)))
    saved = nnx.to_pure_dict(nnx.state(saved_model, nnx.Param))
    ckpt = Checkpointer(str(tmp_path / "ckpt"), save_every=5, keep=2)
    assert not ckpt.save(3, saved)  # not a multiple of save_every
    for step in (5, 10, 15):
        assert ckpt.save(step, saved, meta={"step": step})
    ckpt.wait()
    assert ckpt.all_steps() == [10, 15]  # keep=2
    for shape in [(1, 8, 1), (8, 1, 1)]:
        target_model, _ = load_hf(hf_dir, mesh=make_mesh(shape), seed=1)
        target = nnx.to_pure_dict(nnx.state(target_model, nnx.Param))
        restored, meta = ckpt.restore(target)
        assert meta == {"step": 15}
        q = restored["layers"]["attn"]["q_proj"]
        assert q.sharding == target["layers"]["attn"]["q_proj"].sharding
        for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(saved)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ckpt.close()


def test_random_init_is_sharded():
    cfg = ModelConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2)
    model = init_model(cfg, mesh=make_mesh((1, 4, 2)))
    assert model.embed[...].sharding.spec == jax.sharding.PartitionSpec("tensor", "fsdp")


# ---- bad input -----------------------------------------------------------------------------------


def _tamper(src, dst, drop=None, add=None, reshape=None, config=None):
    from acecoder_jax.checkpoints.safetensors_io import SafetensorsCheckpoint, write_sharded

    ck = SafetensorsCheckpoint(str(src))
    tensors = {k: np.asarray(ck.read(k)) for k in sorted(ck.keys()) if k != drop}
    if add:
        tensors[add] = np.zeros((3,), np.float32)
    if reshape:
        tensors[reshape] = tensors[reshape][:-1]
    write_sharded(str(dst), [(k, v.dtype, v.shape) for k, v in tensors.items()], lambda: iter(tensors.items()))
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(config or {})
    (dst / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("kind,kw,pattern", [
    ("missing", dict(drop="model.layers.1.mlp.up_proj.weight"), "missing tensor.*model.layers.1.mlp.up_proj.weight"),
    ("unexpected", dict(add="model.layers.0.mystery.weight"), "unexpected tensor.*model.layers.0.mystery.weight"),
    ("shape", dict(reshape="model.layers.0.self_attn.k_proj.weight"), "model.layers.0.self_attn.k_proj.weight.*shape"),
    ("arch", dict(config={"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}), "unsupported architecture.*gpt2.*qwen2, llama, qwen3"),
])
def test_bad_checkpoints_name_the_problem(tmp_path, kind, kw, pattern):
    src = tmp_path / "src"
    make_hf_model("qwen2").save_pretrained(src)
    dst = tmp_path / kind
    _tamper(src, dst, **kw)
    with pytest.raises((ValueError, UnsupportedArchitectureError), match=pattern):
        load_hf(str(dst))


def test_reward_head_missing_from_seqcls_checkpoint_is_an_error(tmp_path):
    src = tmp_path / "src"
    make_hf_model("qwen2", seqcls=True).save_pretrained(src)
    dst = tmp_path / "noscore"
    _tamper(src, dst, drop="score.weight")
    with pytest.raises(ValueError, match="missing tensor 'score.weight'"):
        load_hf(str(dst), head="reward")
