"""Folding BatchNorm into the preceding conv or linear layer, and removing Dropout.

In eval mode BatchNorm is the per-channel affine map
``y = gamma (x - mean) / sqrt(var + eps) + beta``. After a conv or linear
layer ``x = W a + b`` (``b = 0`` when the layer has no bias) it folds into
``W' = W s`` and ``b' = (b - mean) s + beta`` with ``s = gamma / sqrt(var + eps)``
per output channel, so the folded network computes the same function.
"""

from __future__ import annotations

import copy

import torch
from torch import fx, nn

from golden.conversion.trace import UnsupportedOperationError, classify, node_description

__all__ = ["fold_batchnorm", "fold_batchnorm_into", "remove_dropout"]


def fold_batchnorm_into(layer: nn.Module, norm: nn.Module) -> nn.Module:
    """Return a copy of conv/linear ``layer`` with eval-mode BatchNorm ``norm`` folded in (always with a bias)."""
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError(f"{type(norm).__name__} without running statistics (track_running_stats=False) cannot be folded")
    folded = copy.deepcopy(layer)
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        folded.weight.copy_(layer.weight * scale.reshape(shape))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(norm.running_mean)
        folded.bias = nn.Parameter(bias * scale + shift)
    return folded


def fold_batchnorm(gm: fx.GraphModule) -> fx.GraphModule:
    """Fold every BatchNorm node of ``gm`` into its conv or linear input node, in place; return ``gm``.

    Each fold writes a new module (``<layer>_folded``), so a layer module that
    is used at several sites keeps its original weights at the others.
    """
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or classify(gm, node) != "batchnorm":
            continue
        norm = gm.get_submodule(node.target)
        source = node.args[0] if node.args else None
        layer = gm.get_submodule(source.target) if isinstance(source, fx.Node) and source.op == "call_module" else None
        if not isinstance(layer, (nn.Conv2d, nn.Linear)) or len(source.users) != 1:
            raise UnsupportedOperationError(
                f"cannot fold {node_description(node, norm)}: BatchNorm must directly follow a Conv2d or "
                f"Linear layer whose output nothing else uses"
            )
        name = f"{source.target.replace('.', '_')}_folded"
        while hasattr(gm, name):
            name += "_"
        gm.add_submodule(name, fold_batchnorm_into(layer, norm))
        with gm.graph.inserting_after(source):
            replacement = gm.graph.call_module(name, source.args, source.kwargs)
        replacement.meta = dict(source.meta)
        replacement.meta["original_target"] = source.meta.get("original_target", source.target)
        node.replace_all_uses_with(replacement)
        gm.graph.erase_node(node)
        gm.graph.erase_node(source)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm


def remove_dropout(gm: fx.GraphModule) -> fx.GraphModule:
    """Remove every Dropout node of ``gm`` (identity at inference), in place; return ``gm``."""
    for node in list(gm.graph.nodes):
        if node.op in ("call_module", "call_function") and classify(gm, node) == "dropout":
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm
