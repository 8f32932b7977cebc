"""Lowering: a Program -> a backend-neutral kernel plan, made once for every backend.

The plan holds the program-level decisions that shape generated code:
execution order and loop groups (:mod:`.group`), batch-of-one
specialization (:mod:`.specialize`), in-place overwrites (:mod:`.inplace`),
GEMM folds (:mod:`.fold`), the code versions of a product (:mod:`.products`),
scratch and workspace memory (:mod:`.memory`),
the wiring of an SGD epoch (:mod:`.epoch`) and the pipelining of its
samples (:mod:`.pipeline`, imported by the code generators that use it). A backend only turns a plan
into code.
"""

from .epoch import EpochData, EpochSpec
from .fold import Fold
from .group import Group, needs_broadcast, pointwise_shapes
from .memory import workspace
from .plan import KernelPlan, plan_kernel
from .products import PRODUCT_VERSIONS, product_dims, product_versions

__all__ = ["PRODUCT_VERSIONS", "EpochData", "EpochSpec", "Fold", "Group", "KernelPlan",
           "needs_broadcast", "plan_kernel", "pointwise_shapes", "product_dims", "product_versions",
           "workspace"]
