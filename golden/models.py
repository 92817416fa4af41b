"""Reference architectures for conversion: a VGG-style CNN and an MLP.

Both take one-channel images in [0, 1]. The activation is a factory so that
the same architecture can be built with ``nn.ReLU`` (float training) or with
the clipped quantised activation of :mod:`golden.quant`.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

__all__ = ["ARCHITECTURES", "CNN", "MLP", "build_model"]

ARCHITECTURES = ("cnn", "cnn-maxpool", "mlp")


class CNN(nn.Sequential):
    """conv32-BN-ReLU, conv32-BN-ReLU, avgpool, conv64-BN-ReLU, avgpool, fc128-ReLU, fc(classes).

    ``image_size`` must be divisible by 4 (two 2x2 pools). ``pool`` is
    ``"avg"`` (converts exactly) or ``"max"`` (converts approximately, to
    measure that approximation).
    """

    def __init__(
        self,
        image_size: int = 28,
        num_classes: int = 10,
        activation: Callable[[], nn.Module] = nn.ReLU,
        pool: str = "avg",
    ):
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 for two 2x2 pools, not {image_size}")
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', not {pool!r}")
        pooled = image_size // 4
        pooling = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        super().__init__(
            nn.Conv2d(1, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            activation(),
            nn.Conv2d(32, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            activation(),
            pooling(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            activation(),
            pooling(2),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(64 * pooled * pooled, 128),
            activation(),
            nn.Linear(128, num_classes),
        )


class MLP(nn.Sequential):
    """Fully connected network ``inputs-256-128-classes`` with BatchNorm; the hardware network runs it."""

    def __init__(
        self,
        inputs: int = 784,
        hidden: tuple[int, ...] = (256, 128),
        num_classes: int = 10,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        layers: list[nn.Module] = [nn.Flatten()]
        width = inputs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), activation()]
            width = size
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


def build_model(
    arch: str, input_shape: tuple[int, int, int], num_classes: int, activation: Callable[[], nn.Module] = nn.ReLU
) -> nn.Module:
    """Build reference architecture ``"cnn"``, ``"cnn-maxpool"`` or ``"mlp"`` for inputs of shape ``(1, H, W)``."""
    channels, height, width = input_shape
    if channels != 1 or height != width:
        raise ValueError(f"input_shape must be (1, H, H), not {input_shape}")
    if arch == "cnn":
        return CNN(height, num_classes, activation)
    if arch == "cnn-maxpool":
        return CNN(height, num_classes, activation, pool="max")
    if arch == "mlp":
        return MLP(height * width, (256, 128), num_classes, activation)
    raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, not {arch!r}")
