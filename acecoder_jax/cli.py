"""What every launcher shares: the --config flag, --config_help, and one-line answers to mistakes.

`--config=FILE.py[:VARIANT]` picks a config file and one of its named variants, and
`--config.a.b=value` overrides a field (ml_collections' config_flags); `--config_help` prints the
file's variants and every field with its default. A mistake in these flags, a `ConfigError`, a
missing file or a host the sandbox refuses is printed as one line that names what is wrong, and
the process exits 2; anything else is a bug and keeps its traceback (ACECODER_TRACEBACK=1 shows
it for the mistakes too).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
from typing import Callable

from absl import app, flags

from acecoder_jax.errors import ConfigError, nearest

TRACEBACK_ENV = "ACECODER_TRACEBACK"
EXIT_MISTAKE = 2
_OVERRIDE = re.compile(r"^--?(?:no)?config\.([^=]+)(?:=(.*))?$", re.S)


def _fail(message: str, error: BaseException | None = None):
    if error is not None and os.environ.get(TRACEBACK_ENV):
        raise error
    sys.stderr.write(f"error: {message}\n")
    sys.exit(EXIT_MISTAKE)


# -- the config file and its variants -------------------------------------------------------
def _split_spec(spec: str) -> tuple[str, str | None]:
    path, _, variant = spec.partition(":")
    return path, (variant or None)


def _load_module(path: str):
    if not os.path.isfile(path):
        raise ConfigError(f"--config: config file {_shown(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"_acecoder_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_config(spec: str):
    """The config `FILE.py[:VARIANT]` names, without command-line overrides."""
    path, variant = _split_spec(spec)
    module = _load_module(path)
    return module.get_config(variant) if variant is not None else module.get_config()


def variants_of(path: str) -> list[str]:
    """The named variants a config file offers (its VARIANTS table)."""
    try:
        return list(getattr(_load_module(path), "VARIANTS", {}))
    except Exception:  # noqa: BLE001 - help text only; --config itself reports a broken file
        return []


def _flatten(config, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for key in config.keys():
        value = config[key]
        name = f"{prefix}{key}"
        if hasattr(value, "keys") and hasattr(value, "to_dict"):
            rows += _flatten(value, name + ".") or [(name, "{}")]
        else:
            rows.append((name, value))
    return rows


def config_help(spec: str) -> str:
    path, variant = _split_spec(spec)
    module = _load_module(path)
    doc = (module.__doc__ or "").strip()
    names = list(getattr(module, "VARIANTS", {}))
    config = load_config(spec)
    lines = [doc, "", f"variants: {', '.join(names) or '(none)'}; shown: {variant or 'the default'}",
             "fields (override with --config.FIELD=VALUE):"]
    rows = _flatten(config)
    width = max((len(name) for name, _ in rows), default=0)
    lines += [f"  {name:<{width}} = {value!r}" for name, value in rows]
    return "\n".join(lines)


# -- diagnosing a bad --config / --config.x=y -------------------------------------------------
def _argv_spec(argv: list[str], default: str) -> str:
    for i, arg in enumerate(argv):
        if arg in ("--config", "-config") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(("--config=", "-config=")):
            return arg.split("=", 1)[1]
    return default


def _unknown_field(config, path: str) -> str | None:
    """Why `path` names no field of `config` (None when it does)."""
    from acecoder_jax.config_blocks import RENAMED_FIELDS

    reason = _unknown_field_plain(config, path)
    if reason:
        for old in sorted(RENAMED_FIELDS, key=len, reverse=True):
            if path == old or path.endswith("." + old):
                prefix = path[:len(path) - len(old)]
                new = " and ".join(f"config.{prefix}{p}" for p in RENAMED_FIELDS[old].split(" and "))
                return f"config.{path} is now {new}"
    return reason


def _alias_of(config, path: str) -> str | None:
    """The field an old spelling `path` now lives at (config_blocks.ALIASES), if `path` names no
    field of `config` and the new one does."""
    from acecoder_jax.config_blocks import ALIASES

    if _unknown_field_plain(config, path) is None:
        return None
    for old in sorted(ALIASES, key=len, reverse=True):
        if path == old or path.endswith("." + old):
            new = path[:len(path) - len(old)] + ALIASES[old]
            if _unknown_field_plain(config, new) is None:
                return new
    return None


def _apply_aliases(argv: list[str], spec: str) -> list[str]:
    """argv with each deprecated --config.OLD override rewritten to its field, warning once each."""
    try:
        config = load_config(spec)
    except Exception:  # noqa: BLE001 - a broken file or variant is reported by the normal parse
        return argv
    out = []
    for arg in argv:
        match = _OVERRIDE.match(arg)
        new = _alias_of(config, match.group(1)) if match else None
        if new:
            old = match.group(1)
            sys.stderr.write(f"warning: --config.{old} is deprecated; use --config.{new}\n")
            arg = arg.replace(f"config.{old}", f"config.{new}", 1)
        out.append(arg)
    return out


def _unknown_field_plain(config, path: str) -> str | None:
    node, done = config, []
    for part in path.split("."):
        key = part.split("[", 1)[0]
        if not hasattr(node, "keys"):
            return f"config.{'.'.join(done)} is a value ({type(node).__name__}), not a block of fields"
        if key not in node:
            where = f"config.{'.'.join(done)}" if done else "the config"
            close = nearest(key, node.keys())
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            return f"no field {key!r} in {where}{hint}; its fields: {', '.join(sorted(node.keys()))}"
        node, done = node[key], done + [key]
    return None


def _shown(path: str) -> str:
    """A config path as a user would type it: relative to the working directory when inside it."""
    path = os.path.normpath(path)
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _config_mistake(error: BaseException, argv: list[str], default: str) -> str | None:
    """One line for a mistake in --config or its overrides; None if `error` is not one (a bug)."""
    spec = _argv_spec(argv, default)
    try:
        config = load_config(spec)
    except ConfigError as e:
        return str(e)
    except Exception:  # noqa: BLE001 - the config file itself fails: a bug in it, keep its traceback
        return None
    path, variant = _split_spec(spec)
    shown = _shown(path) + (f":{variant}" if variant else "")
    for arg in argv:
        match = _OVERRIDE.match(arg)
        if match:
            reason = _unknown_field(config, match.group(1))
            if reason:
                return f"{arg.split('=', 1)[0]}: {reason} (--config_help lists every field of {shown})"
    if isinstance(error, flags.Error):
        return str(error)  # absl's messages name the flag
    if isinstance(error, (ValueError, TypeError)):
        return f"--config={shown}: {error}"
    return None


# -- entry points ---------------------------------------------------------------------------
def config_path(name: str) -> str:
    """A bundled config file (configs/NAME, installed as the package acecoder_jax.configs)."""
    import importlib.resources

    return str(importlib.resources.files("acecoder_jax.configs") / name)


def define_config(default: str, what: str) -> flags.FlagHolder:
    """--config (with overrides) and --config_help; a bad override exits with one line."""
    from ml_collections import config_flags

    path, variant = _split_spec(default)
    text = (f"{what} config: FILE.py[:VARIANT] (default {_shown(path)}:{variant or ''}; its variants: "
            f"{', '.join(variants_of(path))}); "
            "override a field with --config.a.b=value; --config_help lists the fields and their defaults.")
    flags.DEFINE_bool("config_help", False, "Print the config file's variants and every field with its "
                      "default, then exit.")
    # config_flags reads the overrides from sys.argv (here, and again when flags are parsed).
    sys.argv[:] = _apply_aliases(sys.argv, _argv_spec(sys.argv, default))
    try:
        # Without --config on the command line, config_flags loads the default and applies the
        # overrides right here, when the flag is defined.
        return config_flags.DEFINE_config_file("config", default, text)
    except Exception as e:  # noqa: BLE001 - diagnosed below; a bug is re-raised
        line = _config_mistake(e, sys.argv, default)
        if line is None:
            raise
        _fail(line, e)


def _default_spec() -> str:
    return flags.FLAGS["config"].default_as_str.strip("'") if "config" in flags.FLAGS else ""


def _parse_flags(argv: list[str]) -> list[str]:
    if "config" in flags.FLAGS and any(a in ("--config_help", "-config_help", "--config_help=true") for a in argv):
        # Served before parsing: it needs no other flag (not even the required ones).
        try:
            print(config_help(_argv_spec(argv, _default_spec())))
        except ConfigError as e:
            _fail(str(e), e)
        sys.exit(0)
    try:
        rest = flags.FLAGS(argv)
        if "config" in flags.FLAGS:  # config_flags defers a file that failed to load to its first use
            load_config(_argv_spec(argv, _default_spec()))
        return rest
    except Exception as e:  # noqa: BLE001 - diagnosed below; a bug is re-raised
        line = _config_mistake(e, argv, _default_spec()) if _default_spec() else None
        if line is None and isinstance(e, flags.Error):
            line = f"{e} (--helpfull lists the flags)"
        if line is None:
            raise
        _fail(line, e)


def _mistake_types() -> tuple[type, ...]:
    from sandbox_workers.pool import IsolationError  # no JAX: cheap

    return ConfigError, flags.Error, FileNotFoundError, NotADirectoryError, IsolationError


class _NoMissingLibtpu(logging.Filter):
    """Drops JAX's note that libtpu is not installed, which every CPU/GPU run would otherwise open with."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Unable to initialize backend 'tpu'" in message and "cannot open shared object file" in message)


def run(main: Callable[[list[str]], object]) -> None:
    """absl's app.run, with mistakes answered in one line and --config_help served."""
    logging.getLogger("jax._src.xla_bridge").addFilter(_NoMissingLibtpu())

    def guarded(argv):
        try:
            return main(argv)
        except _mistake_types() as e:
            _fail(str(e), e)

    app.run(guarded, flags_parser=_parse_flags)
