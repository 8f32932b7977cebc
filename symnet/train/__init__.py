"""Training: Algorithm 4.1 (per-sample SGD), minibatch SGD, early stopping, saving.

Modules: :mod:`.schedules` (learning rates), :mod:`.history` (results),
:mod:`.kernels` (compiled kernels per network), :mod:`.params`
(initialization), :mod:`.checks` (data), :mod:`.fit`, :mod:`.predict`,
:mod:`.persist` (save / load with the model hash), :mod:`.plot`.
"""

from ..errors import DivergedError
from .checks import _as_rows, _classes, _io_sizes, _targets
from .fit import EVAL_BLOCK, _check_validation, _eval_blocks, _eval_set, _evaluate, fit
from .history import FitResult, History
from .kernels import _eval_kernel, _predict_kernel, training_kernel, training_sgd
from .params import Params, init_params
from .persist import load_model, load_params, model_hash, save_params
from .plot import plot_history
from .predict import accuracy, mean_squared_error, predict, predict_proba, r2_score
from .schedules import Schedule, inverse_time_decay, step_decay

__all__ = [
    "EVAL_BLOCK",
    "DivergedError",
    "FitResult",
    "History",
    "Params",
    "Schedule",
    "accuracy",
    "fit",
    "init_params",
    "inverse_time_decay",
    "load_model",
    "load_params",
    "model_hash",
    "plot_history",
    "mean_squared_error",
    "predict",
    "predict_proba",
    "r2_score",
    "save_params",
    "step_decay",
    "training_kernel",
    "training_sgd",
]

# Internals the tests exercise directly.
_INTERNALS = (_as_rows, _check_validation, _classes, _eval_blocks, _eval_kernel, _eval_set,
              _evaluate, _io_sizes, _predict_kernel, _targets)
