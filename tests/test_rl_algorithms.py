"""RL math against independent loop-by-loop numpy implementations of the formulas."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acecoder_jax.rl import algorithms as alg

B, T, V = 13, 9, 7


# ------------------------------------------------------------------ random ragged rollout batch


def make_batch(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[3] = 0  # an empty response
    lengths[5] = T  # a full-length response
    mask = np.zeros((B, T), np.float32)
    for b in range(B):
        mask[b, : lengths[b]] = 1.0
    # uneven groups with arbitrary, unordered ids, including a singleton group (id 77)
    group_ids = np.array([40, 7, 40, 12, 7, 12, 40, 77, 12, 7, 40, 12, 5], np.int32)
    group_ids[12] = 7  # groups: 40 x4, 7 x4, 12 x4, 77 x1
    rewards = rng.normal(0, 4, size=B).astype(np.float32)
    rewards[0] = 25.0  # exercises the [-10, 10] clip
    rewards[1] = -14.0
    logp_old = -rng.exponential(1.0, size=(B, T)).astype(np.float32)
    logp_ref = logp_old + rng.normal(0, 0.7, size=(B, T)).astype(np.float32)
    logp_ref[2, 0] = logp_old[2, 0] - 30.0  # exercises the KL clamp
    return rewards, mask, group_ids, logp_old, logp_ref


# ------------------------------------------------------------------ numpy references (loops)


def np_kl(logp, logp_ref, kind):
    out = np.zeros_like(logp, dtype=np.float64)
    for b in range(logp.shape[0]):
        for t in range(logp.shape[1]):
            d = float(logp[b, t]) - float(logp_ref[b, t])
            if kind == "k1":
                v = d
            elif kind == "k2":
                v = d * d / 2.0
            else:
                v = math.exp(-d) - 1.0 + d
            out[b, t] = min(max(v, -10.0), 10.0)
    return out


def np_groups(group_ids):
    members = {}
    for b, g in enumerate(group_ids):
        members.setdefault(int(g), []).append(b)
    return members


def np_shape_rewards(rewards, group_ids, kind, eps=1e-6):
    r = [float(x) for x in rewards]
    if kind == "reinforce++":
        return r
    members = np_groups(group_ids)
    out = []
    for b in range(len(r)):
        peers = members[int(group_ids[b])]
        mean = sum(r[i] for i in peers) / len(peers)
        if kind == "reinforce++-baseline":
            out.append(r[b] - mean)
        elif kind == "grpo":
            n = len(peers)
            var = sum((r[i] - mean) ** 2 for i in peers) / (n - 1) if n > 1 else 0.0
            out.append((r[b] - mean) / (math.sqrt(var) + eps))
        elif kind == "rloo":
            others = [r[i] for i in peers if i != b]
            baseline = sum(others) / len(others) if others else r[b]
            out.append(r[b] - baseline)
    return out


def np_advantages(rewards, mask, group_ids, kind, kl=None, kl_coef=0.0, gamma=1.0):
    shaped = np_shape_rewards(rewards, group_ids, kind)
    nb, nt = mask.shape
    token_r = np.zeros((nb, nt))
    returns = np.zeros((nb, nt))
    for b in range(nb):
        valid = [t for t in range(nt) if mask[b, t] > 0]
        for t in valid:
            if kl is not None:
                token_r[b, t] -= kl_coef * kl[b, t]
        if valid:
            token_r[b, valid[-1]] += min(max(shaped[b], -10.0), 10.0)
        g = 0.0
        for t in reversed(range(nt)):
            if mask[b, t] > 0:
                g = token_r[b, t] + gamma * g
                returns[b, t] = g
    adv = returns.copy()
    if kind.startswith("reinforce++"):
        vals = [returns[b, t] for b in range(nb) for t in range(nt) if mask[b, t] > 0]
        mean = sum(vals) / len(vals)
        var = sum((v - mean) ** 2 for v in vals) / len(vals)
        std = math.sqrt(max(var, 1e-8))
        for b in range(nb):
            for t in range(nt):
                adv[b, t] = (returns[b, t] - mean) / std if mask[b, t] > 0 else 0.0
    return adv, returns, token_r


def np_ppo_loss(logp, logp_old, adv, mask, clip_low, clip_high, dual_clip, num_tokens):
    total, clipped, count = 0.0, 0, 0
    for b in range(mask.shape[0]):
        for t in range(mask.shape[1]):
            if mask[b, t] == 0:
                continue
            ratio = math.exp(float(logp[b, t]) - float(logp_old[b, t]))
            a = float(adv[b, t])
            s1 = ratio * a
            s2 = min(max(ratio, 1 - clip_low), 1 + clip_high) * a
            loss = -min(s1, s2)
            if dual_clip is not None and a < 0:
                loss = min(loss, -dual_clip * a)
            total += loss
            clipped += s2 < s1
            count += 1
    return total / num_tokens, clipped / count


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("kind", ["k1", "k2", "k3"])
def test_kl_estimators_match_numpy(kind):
    _, _, _, logp, logp_ref = make_batch(0)
    got = np.asarray(alg.KL_ESTIMATORS[kind](jnp.asarray(logp), jnp.asarray(logp_ref)))
    np.testing.assert_allclose(got, np_kl(logp, logp_ref, kind), rtol=1e-5, atol=1e-5)
    assert np.abs(got).max() <= 10.0


def test_kl_loss_is_masked_sum_over_global_tokens():
    _, mask, _, logp, logp_ref = make_batch(1)
    ref = np_kl(logp, logp_ref, "k3")
    expected = sum(ref[b, t] for b in range(B) for t in range(T) if mask[b, t]) / 100.0
    got = alg.kl_loss(jnp.asarray(logp), jnp.asarray(logp_ref), jnp.asarray(mask), "k3",
                      num_tokens=100.0)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


@pytest.mark.parametrize("kind", ["reinforce++", "reinforce++-baseline", "grpo", "rloo"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kl_kind", [None, "k1", "k3"])
def test_advantage_estimators_match_numpy(kind, seed, kl_kind):
    rewards, mask, group_ids, logp_old, logp_ref = make_batch(seed)
    kl = None if kl_kind is None else np_kl(logp_old, logp_ref, kl_kind).astype(np.float32)
    kl_coef = 0.05
    fn = jax.jit(alg.ADVANTAGE_ESTIMATORS[kind], static_argnames=("gamma",))
    out = fn(jnp.asarray(rewards), jnp.asarray(mask), jnp.asarray(group_ids),
             kl=None if kl is None else jnp.asarray(kl), kl_coef=kl_coef)
    adv, returns, token_r = np_advantages(rewards, mask, group_ids, kind, kl, kl_coef)
    np.testing.assert_allclose(np.asarray(out.token_rewards), token_r, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out.returns), returns, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out.advantages), adv, rtol=1e-4, atol=1e-4)
    assert np.all(np.asarray(out.advantages)[mask == 0] == 0)


@pytest.mark.parametrize("kind", ["reinforce++", "rloo"])
def test_discount_below_one_matches_numpy(kind):
    rewards, mask, group_ids, logp_old, logp_ref = make_batch(4)
    kl = np_kl(logp_old, logp_ref, "k2").astype(np.float32)
    out = alg.ADVANTAGE_ESTIMATORS[kind](jnp.asarray(rewards), jnp.asarray(mask),
                                         jnp.asarray(group_ids), kl=jnp.asarray(kl),
                                         kl_coef=0.1, gamma=0.9)
    adv, returns, _ = np_advantages(rewards, mask, group_ids, kind, kl, 0.1, gamma=0.9)
    np.testing.assert_allclose(np.asarray(out.returns), returns, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out.advantages), adv, rtol=1e-4, atol=1e-4)


def test_grpo_without_kl_broadcasts_one_value_per_row():
    rewards, mask, group_ids, _, _ = make_batch(5)
    out = alg.ADVANTAGE_ESTIMATORS["grpo"](jnp.asarray(rewards), jnp.asarray(mask),
                                           jnp.asarray(group_ids))
    adv = np.asarray(out.advantages)
    for b in range(B):
        row = adv[b][mask[b] > 0]
        if row.size:
            assert np.allclose(row, row[0])
    assert np.allclose(adv[7], 0.0)  # singleton group carries no signal


def test_prompt_major_layout_matches_explicit_ids():
    ids = np.asarray(alg.prompt_major_group_ids(3, 4))
    assert ids.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="n_samples"):
        alg.prompt_major_group_ids(3, 0)


@pytest.mark.parametrize("clip_high,dual_clip", [(None, None), (0.28, None), (0.2, 3.0)])
def test_ppo_clip_loss_matches_numpy(clip_high, dual_clip):
    rng = np.random.default_rng(3)
    _, mask, _, logp_old, _ = make_batch(3)
    logp = logp_old + rng.normal(0, 0.4, size=(B, T)).astype(np.float32)
    adv = rng.normal(0, 1.5, size=(B, T)).astype(np.float32)
    out = jax.jit(alg.POLICY_LOSSES["ppo-clip"], static_argnames=("clip_low", "clip_high",
                                                                  "dual_clip"))(
        jnp.asarray(logp), jnp.asarray(logp_old), jnp.asarray(adv), jnp.asarray(mask),
        clip_low=0.2, clip_high=clip_high, dual_clip=dual_clip, num_tokens=500.0)
    loss, frac = np_ppo_loss(logp, logp_old, adv, mask, 0.2,
                             0.2 if clip_high is None else clip_high, dual_clip, 500.0)
    np.testing.assert_allclose(float(out.loss), loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(out.clip_fraction), frac, rtol=1e-6)
    assert 0 < frac < 1


def test_global_token_count_makes_microbatch_losses_sum_to_batch_loss():
    rng = np.random.default_rng(8)
    _, mask, _, logp_old, _ = make_batch(8)
    logp = jnp.asarray(logp_old + rng.normal(0, 0.3, size=(B, T)).astype(np.float32))
    adv = jnp.asarray(rng.normal(size=(B, T)).astype(np.float32))
    m, lo = jnp.asarray(mask), jnp.asarray(logp_old)
    whole = alg.ppo_clip_loss(logp, lo, adv, m).loss
    n = float(mask.sum())
    parts = sum(alg.ppo_clip_loss(logp[s], lo[s], adv[s], m[s], num_tokens=n).loss
                for s in (slice(0, 5), slice(5, 13)))
    np.testing.assert_allclose(float(parts), float(whole), rtol=1e-5)


def _sgd_step_logprob_change(advantage, logp_old_shift=0.0, loss="ppo-clip"):
    """One SGD step on free logits; returns (new - old) log-prob of the sampled tokens."""
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(2, 4, V)).astype(np.float32))
    tokens = jnp.asarray(rng.integers(0, V, size=(2, 4)))
    mask = jnp.ones((2, 4), jnp.float32)
    adv = jnp.full((2, 4), advantage, jnp.float32)
    logp0 = alg.token_log_probs(logits, tokens)
    logp_old = logp0 + logp_old_shift

    def objective(lg):
        return alg.POLICY_LOSSES[loss](alg.token_log_probs(lg, tokens), logp_old, adv, mask).loss

    grad = jax.grad(objective)(logits)
    new = logits - 1.0 * grad
    return np.asarray(alg.token_log_probs(new, tokens) - logp0), np.asarray(grad)


@pytest.mark.parametrize("loss", ["ppo-clip", "unclipped"])
def test_positive_advantage_raises_sampled_logprob(loss):
    up, _ = _sgd_step_logprob_change(+1.0, loss=loss)
    down, _ = _sgd_step_logprob_change(-1.0, loss=loss)
    assert np.all(up > 1e-3) and np.all(down < -1e-3)


def test_clipped_tokens_get_no_gradient():
    # ratio = exp(0.5) > 1.2 with A > 0: outside the trust region, the clipped term is constant.
    _, grad = _sgd_step_logprob_change(+1.0, logp_old_shift=-0.5)
    assert np.all(grad == 0.0)
    # same ratio with A < 0: the unclipped term is active and still pushes the token down.
    down, _ = _sgd_step_logprob_change(-1.0, logp_old_shift=-0.5)
    assert np.all(down < -1e-3)


def test_entropy_and_log_probs_match_numpy():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, size=(B, T, V)).astype(np.float32)
    logits[0, 0, 3] = -np.inf  # a masked vocabulary entry
    tokens = rng.integers(0, V, size=(B, T))
    tokens[0, 0] = 2
    ent = np.zeros((B, T))
    lp = np.zeros((B, T))
    for b in range(B):
        for t in range(T):
            z = [float(x) / 0.7 for x in logits[b, t]]
            m = max(z)
            s = sum(math.exp(x - m) for x in z)
            p = [math.exp(x - m) / s for x in z]
            ent[b, t] = -sum(pi * math.log(pi) for pi in p if pi > 0)
            lp[b, t] = math.log(p[tokens[b, t]])
    np.testing.assert_allclose(np.asarray(alg.entropy_from_logits(jnp.asarray(logits), 0.7)),
                               ent, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(alg.token_log_probs(jnp.asarray(logits), jnp.asarray(tokens), 0.7)), lp,
        rtol=1e-4, atol=1e-5)


def test_registries_report_unknown_names_and_duplicates():
    assert set(alg.ADVANTAGE_ESTIMATORS) >= {"reinforce++", "reinforce++-baseline", "grpo", "rloo"}
    assert set(alg.KL_ESTIMATORS) == {"k1", "k2", "k3"}
    with pytest.raises(KeyError, match=r"unknown advantage estimator 'ppo'.*grpo"):
        alg.ADVANTAGE_ESTIMATORS["ppo"]
    with pytest.raises(KeyError, match=r"unknown KL estimator 'k4'.*k1, k2, k3"):
        alg.KL_ESTIMATORS["k4"]
    with pytest.raises(KeyError, match="unknown policy loss"):
        alg.POLICY_LOSSES["nope"]
    with pytest.raises(ValueError, match="already registered"):
        alg.register_advantage("grpo")(lambda *a, **k: None)


def test_custom_estimator_registers_by_decorator():
    """A user's estimator joins the one table, so a config can name it; the name is then taken."""
    try:
        @alg.ADVANTAGE_ESTIMATORS.register("zero")
        def zero(rewards, response_mask, group_ids=None, **_):
            return jnp.zeros_like(response_mask)

        assert alg.ADVANTAGE_ESTIMATORS["zero"] is zero
        with pytest.raises(ValueError, match="advantage estimator 'zero' is already registered"):
            alg.ADVANTAGE_ESTIMATORS.register("zero")(zero)
    finally:
        alg.ADVANTAGE_ESTIMATORS.pop("zero", None)


def test_bad_shapes_name_the_argument():
    rewards, mask, group_ids, _, _ = make_batch(0)
    with pytest.raises(ValueError, match="rewards must be"):
        alg.ADVANTAGE_ESTIMATORS["grpo"](jnp.asarray(rewards[:-1]), jnp.asarray(mask),
                                         jnp.asarray(group_ids))
    with pytest.raises(ValueError, match="group_ids"):
        alg.ADVANTAGE_ESTIMATORS["rloo"](jnp.asarray(rewards), jnp.asarray(mask), None)
    with pytest.raises(ValueError, match="kl has shape"):
        alg.ADVANTAGE_ESTIMATORS["reinforce++"](jnp.asarray(rewards), jnp.asarray(mask),
                                                kl=jnp.zeros((B, T + 1)), kl_coef=0.1)
    with pytest.raises(ValueError, match="dual_clip"):
        alg.ppo_clip_loss(jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.zeros((1, 2)),
                          jnp.ones((1, 2)), dual_clip=0.5)


@pytest.mark.parametrize("kind", ["reinforce++", "grpo"])
def test_estimators_agree_when_batch_is_sharded_over_devices(kind):
    """Whitening and group statistics are global even when rows live on different devices."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    devices = np.array(jax.devices())
    if devices.size < 2:
        pytest.skip("needs several (simulated) devices; conftest sets 8")
    rng = np.random.default_rng(9)
    b = 2 * devices.size
    lengths = rng.integers(0, T + 1, size=b)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32)
    rewards = rng.normal(size=b).astype(np.float32)
    group_ids = rng.permutation(np.repeat(np.arange(b // 4), 4)).astype(np.int32)
    mesh = Mesh(devices, ("data",))
    rows = NamedSharding(mesh, P("data"))
    fn = jax.jit(alg.ADVANTAGE_ESTIMATORS[kind])
    sharded = fn(jax.device_put(rewards, rows), jax.device_put(mask, rows),
                 jax.device_put(group_ids, rows))
    adv, _, _ = np_advantages(rewards, mask, group_ids, kind)
    np.testing.assert_allclose(np.asarray(sharded.advantages), adv, rtol=1e-4, atol=1e-4)
