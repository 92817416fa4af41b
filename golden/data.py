"""Data sets for training and conversion: Fashion-MNIST and scikit-learn's digits.

Nothing is downloaded. Fashion-MNIST comes from the Debian package
``dataset-fashion-mnist`` (official 60k/10k split, gzipped IDX files under
``/usr/share/datasets/fashion-mnist/``); the 8x8 digits ship inside
scikit-learn and serve the tests that must run in seconds.

Every data set is held as raw integer pixels plus a ``pixel_max``; the
network input is ``pixels / pixel_max`` in [0, 1], one channel. The integer
network consumes the same raw pixels, so the float and integer paths see the
same image.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "Dataset",
    "MissingDatasetError",
    "load_dataset",
    "read_idx",
]

FASHION_MNIST_DIR = Path(os.environ.get("TMN_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
"""Folder of the Fashion-MNIST IDX files; the environment variable ``TMN_FASHION_MNIST_DIR`` overrides it."""

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DATASETS = ("fashion-mnist", "digits")

# The digits set has no official split: a fixed permutation holds out 360 of its 1797 images.
_DIGITS_TEST_SIZE = 360
_DIGITS_SPLIT_SEED = 0


class MissingDatasetError(FileNotFoundError):
    """A data set file is not installed; the message names the package that provides it."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One split of a data set: raw pixels ``[N, H, W]`` (uint8) and labels ``[N]`` (int64)."""

    name: str
    split: str
    pixels: np.ndarray
    labels: np.ndarray
    pixel_max: int
    num_classes: int

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one network input, ``(channels, height, width)``."""
        return (1,) + tuple(self.pixels.shape[1:])

    def tensors(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return float inputs ``[N, 1, H, W]`` in [0, 1] and int64 labels, the first ``limit`` only if given."""
        pixels = self.pixels if limit is None else self.pixels[:limit]
        labels = self.labels if limit is None else self.labels[:limit]
        x = torch.from_numpy(pixels.astype(np.float32) / self.pixel_max).unsqueeze(1)
        return x, torch.from_numpy(labels.astype(np.int64))

    def loader(self, batch_size: int, *, shuffle: bool = False, seed: int = 0, limit: int | None = None):
        """Return a ``DataLoader`` over ``tensors(limit)``; shuffling is seeded."""
        x, y = self.tensors(limit)
        generator = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator
        )


def read_idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file (unsigned byte data) into a NumPy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise ValueError(f"{path} holds {len(data) - offset} bytes of data, expected {expected} for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def _load_fashion_mnist(split: str, root: Path) -> Dataset:
    image_file, label_file = _FASHION_FILES[split]
    for name in (image_file, label_file):
        if not (root / name).is_file():
            raise MissingDatasetError(
                f"Fashion-MNIST file {root / name} not found; it comes from the Debian package "
                f"dataset-fashion-mnist: run 'apt-get install dataset-fashion-mnist' or 'make install'"
            )
    pixels = read_idx(root / image_file)
    labels = read_idx(root / label_file).astype(np.int64)
    if len(pixels) != len(labels):
        raise ValueError(f"{root}: {len(pixels)} images but {len(labels)} labels in the {split} split")
    return Dataset("fashion-mnist", split, pixels, labels, pixel_max=255, num_classes=10)


def _load_digits(split: str) -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise MissingDatasetError(
            "the digits data set ships with scikit-learn, which is not installed; run 'make install'"
        ) from error
    bunch = load_digits()
    pixels = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(len(labels))
    test, train = order[:_DIGITS_TEST_SIZE], order[_DIGITS_TEST_SIZE:]
    chosen = train if split == "train" else test
    return Dataset("digits", split, pixels[chosen], labels[chosen], pixel_max=16, num_classes=10)


def load_dataset(name: str, split: str, *, root: Path | str | None = None) -> Dataset:
    """Load split ``"train"`` or ``"test"`` of data set ``"fashion-mnist"`` or ``"digits"``.

    Raises
    ------
    ValueError
        For an unknown name or split.
    MissingDatasetError
        When the files are not installed; the message names the package.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if name == "fashion-mnist":
        return _load_fashion_mnist(split, FASHION_MNIST_DIR if root is None else Path(root))
    if name == "digits":
        return _load_digits(split)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {name!r}")
