"""Checkpoints: parameters, optimizer state, epoch, RNG state and history in one .npz file."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..train import History

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

#: Format version written into every checkpoint; another one is refused on load.
VERSION = 1


@dataclass
class Checkpoint:
    """Everything a run needs to continue bit for bit after ``epoch``.

    ``config`` is what must match on resume (model hash, batch size,
    optimizer, dtype, samples, mode); ``rng`` the NumPy bit generator's state
    (the next epoch's permutation comes from it); ``best`` the best
    validation epoch's parameters, ``best_epoch`` / ``best_error`` /
    ``since_best`` the early-stopping counters.
    """

    epoch: int
    params: dict[str, np.ndarray]
    state: dict[str, np.ndarray]
    rng: dict
    config: dict
    history: list[dict] = field(default_factory=list)
    best: dict[str, np.ndarray] = field(default_factory=dict)
    best_epoch: int = 0
    best_error: float = float("inf")
    since_best: int = 0

    def restore_history(self) -> History:
        h = History()
        for row in self.history:
            h._append(**row)
        return h


def save_checkpoint(path: str | os.PathLike, ck: Checkpoint) -> Path:
    """Write ``ck`` to ``path`` atomically (a crash mid-write leaves the old file).

    >>> import tempfile, os
    >>> ck = Checkpoint(2, {'W1': np.eye(2)}, {}, np.random.default_rng(0).bit_generator.state,
    ...                 {'batch_size': 4})
    >>> p = save_checkpoint(os.path.join(tempfile.mkdtemp(), 'run.npz'), ck)
    >>> back = load_checkpoint(p)
    >>> back.epoch, back.params['W1'].tolist(), back.config
    (2, [[1.0, 0.0], [0.0, 1.0]], {'batch_size': 4})
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    meta = {"version": VERSION, "epoch": ck.epoch, "rng": ck.rng, "config": ck.config,
            "history": ck.history, "best_epoch": ck.best_epoch,
            "best_error": None if not np.isfinite(ck.best_error) else ck.best_error,
            "since_best": ck.since_best}
    arrays = {f"param:{k}": v for k, v in ck.params.items()}
    arrays |= {f"state:{k}": v for k, v in ck.state.items()}
    arrays |= {f"best:{k}": v for k, v in ck.best.items()}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (no pickles are loaded)."""
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a symnet checkpoint: {e}") from None
    if "meta" not in data:
        raise ValueError(f"{path} is not a symnet checkpoint (no meta record)")
    meta = json.loads(str(data.pop("meta")))
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint format {meta.get('version')}, this symnet reads "
                         f"{VERSION}")

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}

    best_error = meta["best_error"]
    return Checkpoint(meta["epoch"], part("param:"), part("state:"), meta["rng"],
                      meta["config"], meta["history"], part("best:"), meta["best_epoch"],
                      float("inf") if best_error is None else best_error, meta["since_best"])
