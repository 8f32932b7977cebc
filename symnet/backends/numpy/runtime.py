"""NumPy runtime namespace: every registry row's NumPy form, under the name the printer uses."""

from __future__ import annotations

import numpy as np

from ... import registry
from ...registry.linalg import LINALG_ROWS

__all__ = ["NAMESPACE", "namespace"]


def namespace() -> dict[str, object]:
    """``np`` and each row's runtime function (scalar heads and column ops),
    read from the registry now (a row registered later is included).

    >>> sorted(k for k in namespace() if k.startswith("log"))
    ['log10', 'log1p', 'log2', 'log_softmax', 'logdet', 'loggamma', 'logistic', 'logsumexp']
    """
    ns: dict[str, object] = {"np": np}
    for row in registry.rows():
        if row.numpy is not None:
            ns[row.numpy_name] = row.numpy_form()
    for col in registry.COLUMN_ROWS:
        ns[col.op] = col.numpy
    for row in LINALG_ROWS:
        ns[row.op] = row.numpy
    return ns


#: The namespace at import (``load`` reads :func:`namespace` afresh).
NAMESPACE = namespace()
