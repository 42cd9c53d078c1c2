"""The whole AceCoder loop; with no flags it runs the embedded CPU demo on the toy task family.

python launch/pipeline.py --workdir=/tmp/acecoder-demo            # configs/demo_cpu.py, ~6 min on 2 cores, 3.3 GB
python launch/pipeline.py --config=configs/demo_cpu.py:ci --workdir=DIR
Rerun with the same --workdir to resume after a kill (a changed config there is refused; --overwrite
starts the run over). Writes DIR/report.md, report.json, report.png.
"""
import os

from absl import app, flags, logging

from acecoder_jax import cli

_DEFAULT = cli.config_path("demo_cpu.py")
CONFIG = cli.define_config(_DEFAULT, "Pipeline")
WORKDIR = flags.DEFINE_string("workdir", "/tmp/acecoder-demo", "Run directory (local or gs://).")
OVERWRITE = flags.DEFINE_bool("overwrite", False, "Discard what --workdir holds and run every stage again.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.INFO)
    from acecoder_jax.demo.pipeline import run_demo

    report = run_demo(CONFIG.value, WORKDIR.value, overwrite=OVERWRITE.value)
    print(open(os.path.join(WORKDIR.value, "report.md")).read() if "://" not in WORKDIR.value else report)


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
