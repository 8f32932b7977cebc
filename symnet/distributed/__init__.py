"""Data-parallel training on Dask distributed: synchronous minibatch SGD over sharded data.

Modules: :mod:`.ship` (kernels shipped to workers as programs, rebuilt there),
:mod:`.shards` (the data as shards on the workers and the work done on them),
:mod:`.checkpoint` (parameters, optimizer state, epoch and RNG state on disk),
:mod:`.fit` (the training loop the client drives). Needs the ``distributed``
extra (``pip install symnet[distributed]``).
"""

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .fit import MODES, fit, local_client

__all__ = ["MODES", "Checkpoint", "fit", "load_checkpoint", "local_client", "save_checkpoint"]
