"""Tracing a model with torch.fx and sorting its nodes into the operations conversion supports.

Conversion works on the fx graph of the model. Every node is one of:

- a ReLU call site (``nn.ReLU`` module, ``F.relu``, ``torch.relu``,
  ``x.relu()``, or a :class:`golden.quant.QuantisedReLU`): it becomes a
  spiking layer with its own threshold, even when one module object is called
  at several sites;
- a linear operation, which acts on spike trains step by step: ``Conv2d``,
  ``Linear``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, flattening (``Flatten``,
  ``torch.flatten``, ``.flatten``/``.view``/``.reshape``), residual additions
  (``+``, ``torch.add``), ``Identity``, and ``.size``/``getitem`` used to
  compute shapes;
- ``MaxPool2d``, which runs step by step on the spike trains: an
  approximation, see :mod:`golden.conversion.simulate`;
- ``Dropout``, removed;
- ``BatchNorm``, folded into the preceding conv or linear layer.

Any other node raises :class:`UnsupportedOperationError`, whose message
names the node and the line of model code that made it.
"""

from __future__ import annotations

import operator
import re

import torch
import torch.nn.functional as F
from torch import fx, nn

from golden.quant import QuantisedReLU

__all__ = [
    "UnsupportedOperationError",
    "classify",
    "source_line",
    "trace",
]

RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_)
RELU_METHODS = ("relu", "relu_")
RELU_MODULES = (nn.ReLU, QuantisedReLU)
LINEAR_MODULES = (nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity)
LINEAR_FUNCTIONS = (
    operator.add,
    torch.add,
    torch.flatten,
    F.avg_pool2d,
    F.adaptive_avg_pool2d,
    operator.getitem,
    getattr,
)
LINEAR_METHODS = ("view", "reshape", "flatten", "size", "add", "contiguous")
DROPOUT_MODULES = (nn.Dropout,)
DROPOUT_FUNCTIONS = (F.dropout,)
MAXPOOL_MODULES = (nn.MaxPool2d,)
MAXPOOL_FUNCTIONS = (F.max_pool2d,)
BATCHNORM_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d)

SUPPORTED = (
    "Conv2d, Linear, BatchNorm1d/2d after a conv or linear layer, ReLU (module, F.relu, torch.relu, .relu()), "
    "AvgPool2d, AdaptiveAvgPool2d, MaxPool2d (approximate), Flatten (module, torch.flatten, .flatten, .view, "
    ".reshape), Dropout, Identity, residual additions (+, torch.add)"
)

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)\n\s*(?P<code>[^\n]*)')


class UnsupportedOperationError(TypeError):
    """A node of the model has no spiking equivalent; the message names the node and its source line."""


def source_line(node: fx.Node) -> str:
    """Return ``file:line (code)`` of the model code that created ``node``, or a placeholder if unknown."""
    trace_text = node.stack_trace or node.meta.get("stack_trace") or ""
    for match in _FRAME.finditer(trace_text):
        if "/torch/" in match["file"]:
            continue
        return f"{match['file']}:{match['line']} ({match['code'].strip()})"
    if "container.py" in trace_text:
        return "a forward pass inside nn.Sequential (no line of model code)"
    return "<source line unknown>"


def trace(model: nn.Module) -> fx.GraphModule:
    """Trace ``model`` with torch.fx, keeping the source line of each node.

    ``QuantisedReLU`` stays one node (a leaf), like the built-in modules.
    """

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return isinstance(m, QuantisedReLU) or super().is_leaf_module(m, qualname)

    tracer = _Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model)
    except Exception as error:
        raise UnsupportedOperationError(
            f"torch.fx cannot trace {type(model).__name__}: {error}; conversion needs a model without "
            f"data-dependent control flow"
        ) from error
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def node_description(node: fx.Node, module: nn.Module | None = None) -> str:
    """Describe ``node`` for error messages: its name, operation and source line."""
    if node.op == "call_module":
        what = f"module {node.target!r} ({type(module).__name__})" if module is not None else f"module {node.target!r}"
    elif node.op == "call_function":
        what = f"function {getattr(node.target, '__name__', node.target)}"
    elif node.op == "call_method":
        what = f"method .{node.target}()"
    else:
        what = f"{node.op} {node.target}"
    return f"node {node.name!r}: {what} at {source_line(node)}"


def classify(gm: fx.GraphModule, node: fx.Node) -> str:
    """Return the kind of ``node``: "io", "relu", "linear", "maxpool", "dropout", "batchnorm" or "attribute".

    Raises
    ------
    UnsupportedOperationError
        For any other node, naming it and its source line.
    """
    if node.op in ("placeholder", "output"):
        return "io"
    if node.op == "get_attr":
        return "attribute"
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        for kind, types in (
            ("relu", RELU_MODULES),
            ("linear", LINEAR_MODULES),
            ("dropout", DROPOUT_MODULES),
            ("maxpool", MAXPOOL_MODULES),
            ("batchnorm", BATCHNORM_MODULES),
        ):
            if type(module) in types:
                return kind
        raise UnsupportedOperationError(
            f"cannot convert {node_description(node, module)}; supported: {SUPPORTED}"
        )
    if node.op == "call_function":
        for kind, functions in (
            ("relu", RELU_FUNCTIONS),
            ("linear", LINEAR_FUNCTIONS),
            ("dropout", DROPOUT_FUNCTIONS),
            ("maxpool", MAXPOOL_FUNCTIONS),
        ):
            if node.target in functions:
                return kind
    if node.op == "call_method":
        if node.target in RELU_METHODS:
            return "relu"
        if node.target in LINEAR_METHODS:
            return "linear"
    raise UnsupportedOperationError(f"cannot convert {node_description(node)}; supported: {SUPPORTED}")
