"""A small wrapper over orbax's CheckpointManager: save every N steps, keep K, async, restore
into whatever sharding the caller's target has (so a run can resume on a different mesh)."""

from __future__ import annotations

from typing import Any, Optional

import jax
import orbax.checkpoint as ocp


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) of a pytree of arrays: the restore target."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)), tree
    )


class Checkpointer:
    """Saves a pytree of arrays plus a JSON-able `meta` dict per step, under `directory` (local or gs://)."""

    def __init__(self, directory: str, *, save_every: int = 1000, keep: Optional[int] = 3, async_save: bool = True):
        self.directory = directory
        self.save_every = save_every
        self._manager = ocp.CheckpointManager(
            directory,
            options=ocp.CheckpointManagerOptions(
                save_interval_steps=1,  # the interval is ours (`should_save`), so forced saves work too
                max_to_keep=keep,
                enable_async_checkpointing=async_save,
                create=True,
            ),
        )

    def should_save(self, step: int) -> bool:
        return self.save_every > 0 and step % self.save_every == 0

    def save(self, step: int, tree: Any, meta: Optional[dict] = None, *, force: bool = False) -> bool:
        """Saves at multiples of `save_every` (or when forced). Returns whether it saved."""
        if not (force or self.should_save(step)) or step in self._manager.all_steps():
            return False
        args = {"state": ocp.args.StandardSave(tree), "meta": ocp.args.JsonSave(meta or {})}
        return bool(self._manager.save(step, args=ocp.args.Composite(**args), force=True))

    def latest_step(self) -> Optional[int]:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def restore(self, target: Any, step: Optional[int] = None) -> tuple[Any, dict]:
        """Restores (tree, meta) at `step` (default: latest) into `target`'s shapes and shardings.

        `target` is a pytree of arrays or ShapeDtypeStructs; each leaf's sharding decides where the
        restored array lives, so the saved mesh shape does not matter.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {self.directory}")
        args = {"state": ocp.args.StandardRestore(abstract_like(target)), "meta": ocp.args.JsonRestore()}
        out = self._manager.restore(step, args=ocp.args.Composite(**args))
        return out["state"], dict(out["meta"] or {})

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
