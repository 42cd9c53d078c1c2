"""tfds builders from a manual dir of release-format files; random access without TensorFlow."""
import sys

import pytest

tfds = pytest.importorskip("tensorflow_datasets")  # optional dependency (EXTRAS["test"] installs it)

from acecoder_jax.data import io, schemas  # noqa: E402


def _ace(i):
    return {"id": f"q{i}", "source": "toy", "question": f"Question {i}", "test_cases": [f"assert f({i}) == {i}"],
            "inferences": [{"model_name": "m", "completion_id": j, "completion": f"c{j}", "pass_rate": j / 2}
                           for j in range(3)],
            "context_messages": [{"role": "user", "content": f"Question {i}"}]}


def test_acecode_and_pairs_and_humaneval(tmp_path):
    from acecoder_jax.data.tfds_builders import AceCode87K, AceCodePair, HumanEval, build, data_source
    manual = tmp_path / "manual"
    io.write_records(str(manual / "part-0.parquet"), [_ace(i) for i in range(5)], schema=schemas.acecode_arrow_schema())
    io.write_records(str(manual / "part-1.jsonl"), [_ace(i) for i in range(5, 8)])
    src = data_source(build(AceCode87K, str(tmp_path / "tfds"), str(manual)), "train")
    assert len(src) == 8
    ids = sorted(src[i]["id"].decode() for i in range(8))
    assert ids == [f"q{i}" for i in range(8)]
    ex = next(src[i] for i in range(8) if src[i]["id"] == b"q6")
    assert list(ex["inferences"]["pass_rate"]) == [0.0, 0.5, 1.0] and ex["test_cases"][0] == b"assert f(6) == 6"

    pmanual = tmp_path / "pmanual"
    pair = {"id": "q", "instruction": "i", "chosen": "a", "rejected": "b", "chosen_id": 1, "rejected_id": 2,
            "chosen_pass_rate": 1.0, "rejected_pass_rate": 0.5, "model_name": "m"}
    io.write_records(str(pmanual / "pairs.jsonl"), [pair, {**pair, "id": "r"}])
    psrc = data_source(build(AceCodePair, str(tmp_path / "tfds"), str(pmanual)), "train")
    assert len(psrc) == 2 and {psrc[0]["id"], psrc[1]["id"]} == {b"q", b"r"}

    hsrc = data_source(build(HumanEval, str(tmp_path / "tfds")), "test")
    assert len(hsrc) == 164
    assert "tensorflow" not in sys.modules or not hasattr(sys.modules["tensorflow"], "constant")


def test_bad_manual_dir_is_named(tmp_path):
    from acecoder_jax.data.tfds_builders import AceCode87K, AceCodePair, build
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("not a release file")
    with pytest.raises(FileNotFoundError, match="holds no"):
        build(AceCode87K, str(tmp_path / "tfds"), str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    io.write_records(str(bad / "p.jsonl"), [{"id": "q", "instruction": "i"}])
    with pytest.raises(ValueError, match=r"p.jsonl row 1: field 'chosen': missing"):
        build(AceCodePair, str(tmp_path / "tfds2"), str(bad))
