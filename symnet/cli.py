"""The ``symnet`` command: train a network, print its gradient, show compiler stages."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import sympy as sp

from . import backends, registry
from .data import DataError, load_array_file, load_digits, reference_split
from .nn import DEFAULT_LOSS, LOSSES, MLP, OUTPUTS

__all__ = ["SHOW_STAGES", "main"]

DEFAULT_EPOCHS = 15
_IDENT = re.compile(r"[A-Za-z_]\w*\Z")
_MAX_MESSAGE = 400


class _UsageError(Exception):
    """A command-line argument is wrong (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump, no SystemExit
        raise _UsageError(message)


# ------------------------------------------------------------------ argument types


def _size(entry: str, symbols: bool) -> sp.Expr:
    entry = entry.strip()
    try:
        value = int(entry)
    except ValueError:
        if symbols and _IDENT.match(entry):
            return sp.Symbol(entry, integer=True, positive=True)
        what = "a positive integer or a name" if symbols else "a positive integer"
        raise argparse.ArgumentTypeError(f"size {entry!r} is not {what}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"size {value} must be at least 1")
    return sp.Integer(value)


def _size_list(symbols: bool, minimum: int) -> Callable[[str], list[sp.Expr]]:
    def parse(text: str) -> list[sp.Expr]:
        entries = [] if not text.strip() or text.strip() == "none" else text.split(",")
        sizes = [_size(e, symbols) for e in entries]
        if len(sizes) < minimum:
            raise argparse.ArgumentTypeError(
                f"{text!r} has {len(sizes)} size(s); give at least {minimum}, comma separated "
                "(e.g. 64,32,10)")
        return sizes

    return parse


def _lam(symbols: bool) -> Callable[[str], sp.Expr | float]:
    def parse(text: str) -> sp.Expr | float:
        try:
            value = float(text)
        except ValueError:
            if symbols and _IDENT.match(text.strip()):
                return sp.Symbol(text.strip())
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (np.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
        return value

    return parse


def _positive(kind: type) -> Callable[[str], float | int]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            name = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None
        if not (np.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value

    return parse


def _activations(text: str) -> str | list[str]:
    names = [a.strip() for a in text.split(",")]
    known = registry.activation_names()
    for a in names:
        if a not in known:
            raise argparse.ArgumentTypeError(f"unknown activation {a!r}; choose from "
                                             f"{', '.join(known)}")
    return names[0] if len(names) == 1 else names


# ------------------------------------------------------------------ parser


def _model_options(symbolic: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("model")
    default = "n0,n1,n2" if symbolic else None
    g.add_argument("--sizes", type=_size_list(symbolic, 2), default=default,
                   help="layer sizes n0,...,nL, comma separated"
                   + (" (integers or names; default n0,n1,n2)" if symbolic
                      else " (first = features, last = classes of the data)"))
    g.add_argument("--activation", type=_activations, default="logistic",
                   help="hidden activation, or one per hidden layer comma separated "
                   f"({', '.join(registry.activation_names())}; default logistic)")
    g.add_argument("--output", choices=OUTPUTS, default=None,
                   help="output layer (default softmax; linear for a regression)")
    g.add_argument("--loss", choices=list(LOSSES), default=None,
                   help="loss (default: cross_entropy for softmax, binary_cross_entropy for "
                   "logistic, squared_error for linear outputs)")
    g.add_argument("--pieces", type=_positive(int), default=2,
                   help="linear pieces per maxout unit (default 2)")
    return p


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symnet", description=__doc__)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    kernels = argparse.ArgumentParser(add_help=False)
    kg = kernels.add_argument_group("kernel")
    kg.add_argument("--backend", choices=list(backends.BACKENDS), default="llvm",
                    help="code generator (default llvm)")
    kg.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                    help="floating-point type (default float64)")

    t = sub.add_parser(
        "train", parents=[_model_options(False), kernels],
        help="train a network (default: 64-32-10 on the bundled digits)",
        description="Train an MLP by SGD (Algorithm 4.1 with --batch-size 1) on the bundled "
        "digits, or on --data, with the reference 80/20 split and early stopping.")
    t.add_argument("--model", metavar="MODULE:FUNCTION", default=None,
                   help="train the symnet.Model (or MLP) this function returns instead of an "
                   "MLP from --sizes/--hidden (a module name or a FILE.py)")
    t.add_argument("--hidden", type=_size_list(False, 0), default=None,
                   help="hidden sizes only, comma separated (default 32); the input and output "
                   "sizes come from the data")
    t.add_argument("--lam", type=_lam(False), default=1e-4,
                   help="weight penalty lambda (default 1e-4)")
    t.add_argument("--alpha", type=_positive(float), default=0.1,
                   help="learning rate (default 0.1)")
    t.add_argument("--epochs", type=_positive(int), default=DEFAULT_EPOCHS,
                   help=f"maximum number of epochs (default {DEFAULT_EPOCHS})")
    t.add_argument("--batch-size", type=_positive(int), default=1,
                   help="samples per SGD step (default 1: Algorithm 4.1)")
    t.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                           "adam", "adamw"], default="sgd",
                   help="update rules of --method sgd, compiled into the epoch (default sgd: "
                   "theta <- theta - alpha g)")
    t.add_argument("--method", choices=["sgd", "newton-cg", "l-bfgs"], default="sgd",
                   help="sgd (default), or full-batch newton-cg / l-bfgs through SciPy, "
                   "where --epochs counts iterations")
    t.add_argument("--curvature", choices=["hessian", "gauss-newton"], default="hessian",
                   help="newton-cg's curvature products (default hessian; gauss-newton: "
                   "Hessian-free)")
    t.add_argument("--damping", type=_lam(False), default=0.0,
                   help="added to newton-cg's curvature times the direction (default 0)")
    t.add_argument("--patience", type=_positive(int), default=5,
                   help="stop after this many epochs without a lower validation error "
                   "(default 5)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--data", metavar="FILE", default=None,
                   help="CSV/TSV (last column = label or target; delimiter sniffed) or NPZ "
                   "(arrays X, y) file instead of the bundled digits")
    t.add_argument("--task", choices=["classification", "regression"], default=None,
                   help="default: inferred from the targets (whole numbers >= 0 with few "
                   "distinct values: classification), and said in the output")
    t.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="train data-parallel on this Dask scheduler (tcp://host:port), or on "
                   "a new local cluster: 'local' (2 workers) or 'local:N' (needs the "
                   "distributed extra)")
    t.add_argument("--mode", choices=["sync", "local"], default="sync",
                   help="with --scheduler: sync (average the gradients every step: the same "
                   "numbers as one process) or local (average the parameters every "
                   "--sync-every steps)")
    t.add_argument("--sync-every", type=_positive(int), default=8,
                   help="with --mode local: steps per worker between averages (default 8)")
    t.add_argument("--checkpoint", metavar="NPZ", default=None,
                   help="with --scheduler: write a checkpoint to this file every epoch")
    t.add_argument("--resume", metavar="NPZ", default=None,
                   help="with --scheduler: continue the run saved in this checkpoint")
    t.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it is shown only when stderr is a terminal)")
    t.add_argument("--plot", metavar="PNG", default=None,
                   help="write the training curves to this PNG (needs matplotlib)")
    t.add_argument("--save", metavar="NPZ", default=None,
                   help="write the trained parameters to this .npz file")
    t.set_defaults(run=_cmd_train)

    pr = sub.add_parser(
        "predict", help="predict with a model saved by `symnet train --save`",
        description="Load a model saved by `symnet train --save` and print one prediction "
        "per sample of --data (a class index, or the output values of a regression). When "
        "the file has one column more than the network's inputs, the last column is taken "
        "as the labels or targets and the accuracy (or mean squared error) is reported.")
    pr.add_argument("model", metavar="MODEL", help="the .npz file written by --save")
    pr.add_argument("--data", metavar="FILE", required=True,
                    help="CSV/TSV of samples (one per line), or NPZ with X (and y)")
    pr.add_argument("--backend", choices=list(backends.BACKENDS), default="llvm",
                    help="code generator (default llvm)")
    pr.set_defaults(run=_cmd_predict)

    g = sub.add_parser(
        "grad", parents=[_model_options(True)],
        help="print the derived gradient formulas of a model",
        description="Derive the gradient of the model's risk and print the backpropagation "
        "equations (symbolic sizes unless --sizes gives integers).")
    g.add_argument("--lam", type=_lam(True), default=sp.Symbol("lambda"),
                   help="weight penalty: a number or a name (default lambda)")
    g.add_argument("--symbolic", action="store_true",
                   help="replace the sizes by symbols n0, n1, ... (keeps the depth)")
    g.add_argument("--product", choices=["hvp", "gnvp"], default=None,
                   help="print the R-propagation of a Hessian-vector (hvp) or Gauss-Newton-"
                   "vector (gnvp) product along v_W1, v_b1, ... instead of the gradient")
    fmt = g.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print LaTeX")
    fmt.add_argument("--pretty", action="store_true", help="print 2-D Unicode formulas")
    g.set_defaults(run=_cmd_grad)

    s = sub.add_parser(
        "show", parents=[_model_options(True), kernels],
        help="dump a compiler stage of the model's training step",
        description="Dump one stage of the compiled training step (risk and gradient): "
        + "; ".join(f"{k}: {v[0]}" for k, v in SHOW_STAGES.items()) + ".")
    s.add_argument("stage", choices=list(SHOW_STAGES), help="what to show")
    s.add_argument("--lam", type=_lam(False), default=1e-4,
                   help="weight penalty lambda (default 1e-4)")
    s.add_argument("--symbolic", action="store_true",
                   help="replace the sizes by symbols n0, n1, ... (keeps the depth)")
    s.set_defaults(run=_cmd_show)

    e = sub.add_parser(
        "export", parents=[_model_options(False)],
        help="write a model as C, a shared library or ONNX",
        description="Export the model's forward pass (predict), its risk and gradient (grad) "
        "or a whole SGD epoch (epoch, Algorithm 4.1 with batch size 1): c = dependency-free "
        "C99 (.c + .h), library = LLVM machine code in a .so with the same header, onnx = an "
        "ONNX model of the forward pass (weights from --params).")
    e.add_argument("format", choices=["c", "library", "onnx"], help="what to write")
    e.add_argument("-o", "--out", metavar="PATH", required=True,
                   help="output path without suffix (PATH.c/.h, PATH.so, PATH.onnx)")
    e.add_argument("--kernel", choices=["predict", "grad", "epoch"], default=None,
                   help="what to export (default: epoch for c/library, predict for onnx)")
    e.add_argument("--params", metavar="NPZ", default=None,
                   help="trained parameters from `symnet train --save` (onnx stores them)")
    e.add_argument("--lam", type=_lam(False), default=1e-4,
                   help="weight penalty lambda of grad/epoch (default 1e-4)")
    e.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="floating-point type (default float64)")
    e.add_argument("--name", default=None, help="C function name (default: PATH's stem)")
    e.add_argument("--triple", default=None,
                   help="library: LLVM target triple (default: this host)")
    e.add_argument("--cpu", default=None, help="library: target CPU (default: this host's)")
    e.set_defaults(run=_cmd_export, sizes_default=[64, 32, 10])

    c = sub.add_parser(
        "cache", help="show or clear the compile cache",
        description="The on-disk compile cache ($SYMNET_CACHE_DIR, default "
        "~/.cache/symnet; bounded by $SYMNET_CACHE_MAX_BYTES, default 1G).")
    c.add_argument("action", choices=["info", "clear"], help="info: where it is and its size; "
                   "clear: delete every entry")
    c.set_defaults(run=_cmd_cache)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------------ model


def _net(args: argparse.Namespace, sizes: Sequence[sp.Expr]) -> MLP:
    if getattr(args, "symbolic", False):
        sizes = [sp.Symbol(f"n{i}", integer=True, positive=True) for i in range(len(sizes))]
    return MLP(list(sizes), args.activation, output=_output(args), pieces=args.pieces)


def _output(args: argparse.Namespace) -> str:
    if args.output is not None:
        return args.output
    return "linear" if getattr(args, "task", None) == "regression" else "softmax"


def _loss(args: argparse.Namespace) -> str:
    return args.loss or DEFAULT_LOSS[_output(args)]


def _user_model(spec: str):
    """The model ``MODULE:FUNCTION`` (or ``path/file.py:FUNCTION``) returns."""
    import importlib

    module, sep, func = spec.rpartition(":")
    if not sep or not module or not func:
        raise ValueError(f"--model takes MODULE:FUNCTION or FILE.py:FUNCTION, got {spec!r}")
    if module.endswith(".py"):
        path = Path(module)
        loader = importlib.util.spec_from_file_location(path.stem, path)
        if loader is None or not path.is_file():
            raise FileNotFoundError(2, "no such model file", str(path))
        mod = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(mod)
    else:
        mod = importlib.import_module(module)
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise ValueError(f"{module} has no function {func!r}")
    model = fn()
    if not all(hasattr(model, a) for a in ("X", "params", "output_expr", "risk", "task")):
        raise TypeError(f"{spec} returned {type(model).__name__}, not a symnet.Model or MLP")
    return model


def _describe(net: MLP) -> str:
    if not isinstance(net, MLP):
        return f"model {getattr(net, 'name', 'model')} ({len(net.params)} parameters)"
    sizes = "-".join(str(s) for s in net.sizes)
    hidden = ", ".join(dict.fromkeys(net.acts)) or "no"
    return f"{sizes} network ({hidden} hidden, {net.output} output)"


# ------------------------------------------------------------------ commands


def _emit_fn(progress: bool) -> Callable[[str], None]:
    if progress:
        from tqdm.auto import tqdm

        return lambda line: tqdm.write(line, file=sys.stdout)
    return lambda line: print(line, flush=True)


def _check_plot_path(path: str) -> None:
    """Fail before training, not after, when the plot cannot be written."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError("--plot needs matplotlib: pip install symnet[plot]")
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(2, "no such folder for --plot", str(parent))
    if not os.access(parent, os.W_OK):
        raise PermissionError(13, "cannot write the --plot file here", str(parent))


def _train_data(args: argparse.Namespace):
    """(X, y, source, task, how the task was chosen)."""
    if args.data:
        from .data import infer_task

        if args.task is not None:
            X, y = load_array_file(args.data, task=args.task)
            return X, y, args.data, args.task, "--task"
        X, y = load_array_file(args.data, task="regression")
        task = infer_task(y)
        if task == "classification":  # whole numbers >= 0: class indices
            y = y.astype(np.int64)
        return X, y, args.data, task, "inferred from the targets; --task to choose"
    X, y = load_digits()
    if args.task == "regression":
        raise ValueError("the bundled digits are a classification; give --data for a "
                         "regression")
    return X, y, "bundled digits", "classification", "the bundled digits"


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import accuracy, fit, r2_score, save_params, training_sgd
    from .train import mean_squared_error as mse

    if args.plot:
        _check_plot_path(args.plot)
    if args.sizes is not None and args.hidden is not None:
        raise ValueError("give --sizes or --hidden, not both")
    lone = [f"--{o}" for o in ("checkpoint", "resume") if getattr(args, o)]
    if lone and not args.scheduler:
        raise ValueError(f"{' and '.join(lone)} belong to data-parallel training: add "
                         "--scheduler ADDRESS (or local)")
    user_model = _user_model(args.model) if args.model else None
    if user_model is not None and args.task is None:
        args.task = user_model.task
    X, y, source, task, how = _train_data(args)
    if user_model is not None:
        how = f"the model's targets, {how}" if how == "--task" else "the model's targets"
    args.task = task
    if user_model is None and task == "classification":
        n_out = int(y.max()) + 1
        if n_out < 2:
            raise DataError(f"{source}: every label is {int(y.max())}; need at least two "
                            "classes")
        if _output(args) == "linear":
            raise ValueError("a linear output layer is a regression; use --task regression or "
                             "--output softmax")
    elif user_model is None:
        n_out = 1
        if _output(args) != "linear":
            raise ValueError(f"a regression needs a linear output layer, not --output "
                             f"{args.output}")
    X_tr, y_tr, X_va, y_va = reference_split(X, y)
    if user_model is not None:
        sizes = None
    elif args.sizes is not None:
        sizes = [int(s) for s in args.sizes]
        if sizes[0] != X.shape[1] or sizes[-1] != n_out:
            what = f"{n_out} classes" if task == "classification" else "1 target"
            raise ValueError(f"--sizes {','.join(map(str, sizes))} does not fit the data "
                             f"({X.shape[1]} features, {what}); use "
                             f"--sizes {X.shape[1]},...,{n_out} or --hidden")
    else:
        hidden = [32] if args.hidden is None else [int(s) for s in args.hidden]
        sizes = [X.shape[1], *hidden, n_out]
    net = user_model if user_model is not None else _net(args, sizes)
    loss = net.default_loss if user_model is not None else _loss(args)
    if user_model is not None and int(net.X.shape[0]) != X.shape[1]:
        raise ValueError(f"the model takes {net.X.shape[0]} features but {source} has "
                         f"{X.shape[1]}")
    # One stream for the table and the bar: the bar only on a terminal (tqdm's
    # advice), so output redirected to a file holds the table alone.
    progress = not args.no_progress and sys.stderr.isatty()
    emit = _emit_fn(progress)
    emit(f"task: {task} ({how})")
    if args.method == "sgd":
        algo = "Algorithm 4.1" if args.batch_size == 1 else "minibatch SGD"
        if args.optimizer != "sgd":
            algo = f"{args.optimizer}, minibatch" if args.batch_size > 1 else args.optimizer
        emit(f"{_describe(net)}, {loss if user_model is None else 'its own loss'}, "
             f"lam={args.lam:g}, alpha={args.alpha:g}, "
             f"batch {args.batch_size} ({algo}), {args.backend} {args.dtype}")
        if args.batch_size > len(y_tr):
            emit(f"note: --batch-size {args.batch_size} exceeds the {len(y_tr)} training "
                 "samples; every epoch is one full batch")
    else:
        extra = (f", {args.curvature} curvature, damping {args.damping:g}"
                 if args.method == "newton-cg" else "")
        emit(f"{_describe(net)}, {loss}, lam={args.lam:g}, full-batch {args.method}{extra}, "
             f"{args.backend} {args.dtype}")
    emit(f"data: {source}, {len(y_tr)} training / {len(y_va)} validation samples")
    start = time.perf_counter()
    if args.method == "sgd" and not args.scheduler:
        training_sgd(net, loss, args.lam, args.backend, args.dtype, args.batch_size,
                     args.optimizer)
        emit(f"derived and compiled the training epoch in {time.perf_counter() - start:.2f} s")
    step = "epoch" if args.method == "sgd" else "iter"
    err = "val error" if task == "classification" else "val mse"
    emit(f"{step:>5}  {'train loss':>10}  {'val loss':>10}  {err:>9}  {'seconds':>7}")

    def report(history) -> None:
        r = history.row(-1)
        emit(f"{r['epoch']:>5}  {r['train_loss']:>10.4f}  {r['val_loss']:>10.4f}  "
             f"{r['val_error']:>9.4f}  {r['seconds']:>7.2f}")

    common = dict(X_val=X_va, y_val=y_va, loss=loss, lam=args.lam, alpha=args.alpha,
                  epochs=args.epochs, batch_size=args.batch_size, patience=args.patience,
                  seed=args.seed, backend=args.backend, dtype=args.dtype, progress=progress,
                  callback=report, optimizer=args.optimizer)
    if args.scheduler:
        result = _fit_distributed(args, net, X_tr, y_tr, emit, common)
    else:
        result = fit(net, X_tr, y_tr, method=args.method, curvature=args.curvature,
                     damping=args.damping, **common)
    total = time.perf_counter() - start
    if result.stopped_early:
        emit(f"stopped early after {step} {len(result.history)}: no lower validation error "
             f"for {args.patience} {step}s")
    which = (f"with the parameters of {'epoch' if step == 'epoch' else 'iteration'} "
             f"{result.best_epoch}; total {total:.1f} s")
    kw = {"backend": args.backend, "dtype": args.dtype}
    if task == "classification":
        acc = accuracy(net, result.params, X_va, y_va, **kw)
        emit(f"validation accuracy: {100 * acc:.2f}% ({round(acc * len(y_va))}/{len(y_va)}) "
             + which)
    else:
        emit(f"validation mean squared error: {mse(net, result.params, X_va, y_va, **kw):.6g}, "
             f"R^2 {r2_score(net, result.params, X_va, y_va, **kw):.4f} " + which)
    if args.save:
        emit(f"saved parameters to {save_params(args.save, net, result.params)}")
    if args.plot:
        from .train import plot_history

        emit(f"saved training curves to {plot_history(result.history, args.plot)}")
    return 0


def _fit_distributed(args: argparse.Namespace, net, X, y, emit, common: dict):
    """train.fit's run on a Dask cluster (symnet.distributed), the data cut into one
    shard per worker."""
    if args.method != "sgd":
        raise ValueError(f"--scheduler trains by SGD; --method {args.method} is full batch on "
                         "one machine")
    try:
        from . import distributed
    except ImportError as e:
        raise ValueError(f"--scheduler needs Dask distributed ({e}); install the extra: pip "
                         "install 'symnet[distributed]'") from None
    from distributed import Client

    address = args.scheduler
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2] or "2"
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--scheduler {address}: the worker count must be a positive "
                             "integer, as in local:2")
        client = distributed.local_client(int(count))
    else:
        client = Client(address, timeout="20s")
    try:
        workers = len(client.scheduler_info()["workers"])
        emit(f"dask: {workers} worker(s) at {client.scheduler.address}, --mode {args.mode}"
             + (f" (average every {args.sync_every} steps)" if args.mode == "local" else ""))
        return distributed.fit(net, X, y, client=client, mode=args.mode,
                               sync_every=args.sync_every, checkpoint=args.checkpoint,
                               resume=args.resume, **common)
    finally:
        client.close()


def _cmd_predict(args: argparse.Namespace) -> int:
    from .data import read_table
    from .train import load_model, predict

    net, params = load_model(args.model)
    n_in = int(net.sizes[0])
    path = Path(args.data)
    if path.suffix.lower() == ".npz":
        X, y = load_array_file(path, task=net.task)
    else:
        table = read_table(path)
        if table.shape[1] not in (n_in, n_in + 1):
            raise DataError(f"{path}: {table.shape[1]} columns, but the model takes {n_in} "
                            f"features (and optionally a last column of labels or targets)")
        X = np.ascontiguousarray(table[:, :n_in])
        y = table[:, n_in] if table.shape[1] == n_in + 1 else None
    pred = predict(net, params, X, backend=args.backend)
    for row in np.atleast_1d(pred):
        print(" ".join(f"{v:.10g}" for v in np.atleast_1d(row)) if net.task == "regression"
              else int(row))
    if y is not None:
        if net.task == "classification":
            acc = float(np.mean(pred == np.asarray(y).astype(np.int64)))
            print(f"accuracy: {100 * acc:.2f}% ({round(acc * len(pred))}/{len(pred)})",
                  file=sys.stderr)
        else:
            mse = float(np.mean((pred - np.asarray(y, np.float64).reshape(pred.shape)) ** 2))
            print(f"mean squared error: {mse:.6g}", file=sys.stderr)
    return 0


def _cmd_grad(args: argparse.Namespace) -> int:
    from .api import grad

    net = _net(args, args.sizes)
    risk = net.risk(_loss(args), args.lam)
    if args.product == "hvp":
        from .second_order import hvp

        grads = hvp(risk, net.params)
    elif args.product == "gnvp":
        from .second_order import gnvp

        grads = gnvp(risk, net.params, output=net.layers[-1].z[0])
    else:
        grads = grad(risk, net.params)
    if args.latex:
        print(grads.latex())
    elif args.pretty:
        print(grads.pretty())
    else:
        print(str(grads))
    return 0


def _show_graph(net: MLP, loss: str, args: argparse.Namespace) -> str:
    from .api import lower

    return lower(net.risk(loss, args.lam), net.params)[0].table()


def _show_program(net: MLP, loss: str, args: argparse.Namespace) -> str:
    from .train import training_kernel

    return str(training_kernel(net, loss, args.lam, args.backend, args.dtype).program)


def _show_numpy(net: MLP, loss: str, args: argparse.Namespace) -> str:
    from .train import training_kernel

    return training_kernel(net, loss, args.lam, "numpy", args.dtype).source


def _llvm_kernel(net: MLP, loss: str, args: argparse.Namespace):
    from .train import training_kernel

    return training_kernel(net, loss, args.lam, "llvm", args.dtype)


#: ``symnet show`` stages: name -> (description, function(net, loss, args) -> text).
SHOW_STAGES: dict[str, tuple[str, Callable[[MLP, str, argparse.Namespace], str]]] = {
    "graph": ("the lowered graph of the risk and its gradient, one node per line",
              _show_graph),
    "program": ("the scheduled kernel program", _show_program),
    "numpy": ("the generated NumPy source", _show_numpy),
    "llvm": ("the LLVM IR as emitted", lambda n, lo, a: _llvm_kernel(n, lo, a).llvm_ir),
    "llvm-opt": ("the LLVM IR after the O2 pipeline",
                 lambda n, lo, a: _llvm_kernel(n, lo, a).llvm_ir_optimized),
    "asm": ("the host assembly", lambda n, lo, a: _llvm_kernel(n, lo, a).asm),
}


def _cmd_show(args: argparse.Namespace) -> int:
    net = _net(args, args.sizes)
    print(SHOW_STAGES[args.stage][1](net, _loss(args), args).rstrip("\n"))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from . import api, export
    from .sgd import compile_sgd
    from .train import load_params

    net = _net(args, args.sizes or args.sizes_default)
    if any(not sp.sympify(n).is_Integer for n in net.sizes):
        raise ValueError("export needs integer --sizes (the batch stays symbolic)")
    kind = args.kernel or ("predict" if args.format == "onnx" else "epoch")
    loss = _loss(args)
    if args.format == "onnx" and kind == "epoch":
        raise ValueError("ONNX holds a forward pass or a gradient, not a training epoch; "
                         "use --kernel predict or grad")
    params = load_params(args.params, net) if args.params else None
    if args.format == "onnx" and kind == "predict" and params is None:
        raise ValueError("an ONNX model of the forward pass stores its weights: give --params")
    if kind == "predict":
        obj = api.compile([net.output_expr], [net.X, *net.params], dtype=args.dtype)
    elif kind == "grad":
        obj = api.compile_grad(net.risk(loss, args.lam), net.params,
                               [net.X, net.labels(loss), *net.params], dtype=args.dtype)
    else:
        obj = compile_sgd(net.risk(loss, args.lam), net.params, net.X, net.labels(loss),
                          dtype=args.dtype)
    if args.format == "c":
        written = list(export.export_c(obj, args.out, args.name))
    elif args.format == "library":
        so = export.export_library(obj, args.out, args.name, triple=args.triple, cpu=args.cpu)
        written = [so, so.with_suffix(".h")]
    else:
        values = None if params is None else [params[str(p)] for p in net.params]
        written = [export.export_onnx(net if kind == "predict" else obj, args.out,
                                      values if kind == "predict" else None,
                                      dtype=args.dtype)]
    print(f"{kind} of the {_describe(net)} -> " + ", ".join(str(w) for w in written))
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from . import diskcache

    if args.action == "clear":
        files, freed = diskcache.clear()
        where = diskcache.info()["path"] or "(no cache: SYMNET_CACHE_DIR is empty)"
        print(f"removed {files} files ({freed / 2**20:.1f} MiB) from {where}")
        return 0
    info = diskcache.info()
    print(f"path: {info['path'] or '-'}\nstatus: {info['status']}\n"
          f"entries: {info['entries']} ({info['bytes'] / 2**20:.1f} MiB)\n"
          f"bound: {info['max_bytes'] / 2**20:.0f} MiB (SYMNET_CACHE_MAX_BYTES)")
    return 0


# ------------------------------------------------------------------ entry point


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``symnet`` command; returns the exit status.

    Errors print one line ``symnet: error: ...`` to stderr (status 2 for bad
    arguments, 1 otherwise), never a traceback.

    >>> main(["grad", "--sizes", "3,2", "--output", "linear"])
    dL/dW1 = lambda*W1 + 1/m*(W1*X - Y + b1*1)*X.T
    dL/db1 = 1/m*(W1*X - Y + b1*1)*1
    0
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except _UsageError as exc:
        print(f"symnet: error: {_message(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("symnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `symnet show numpy | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, TypeError, OSError, ImportError, ArithmeticError) as exc:
        # DataError is a ValueError; a diverged training run an ArithmeticError
        print(f"symnet: error: {_message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
