"""The command-line entry points: `python -m acecoder_jax.commands.NAME`, the `acecoder-NAME` console
scripts, or the thin `launch/NAME.py` wrappers (the documented top level) all run one `entry()`."""


def define_workdir():
    """--workdir (required) and --allow_config_change, the flags of every training command."""
    from absl import flags

    workdir = flags.DEFINE_string("workdir", None, "Run directory (local or gs://): checkpoints, metrics, export; "
                                  "rerun with the same one to resume.")
    flags.mark_flag_as_required("workdir")
    allow = flags.DEFINE_bool("allow_config_change", False, "Resume a workdir whose run was made with another "
                              "config (refused by default, naming the changed fields).")
    return workdir, allow


def training_entry(config: str, objective: str):
    """The entry() of an LM/RM training command: --config (default configs/CONFIG) and --workdir."""
    from absl import app

    from acecoder_jax import cli

    file, variant = config.split(":")
    flags_config = cli.define_config(f"{cli.config_path(file)}:{variant}", "Training")
    workdir, allow_config_change = define_workdir()

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        from acecoder_jax.train.run import run_training

        run_training(flags_config.value, workdir.value, objective_name=objective,
                     allow_config_change=allow_config_change.value)

    return lambda: cli.run(main)
