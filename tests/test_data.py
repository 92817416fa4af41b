import gzip

import numpy as np
import pytest

from golden.data import MissingDatasetError, load_dataset, read_idx


def test_digits_split_is_complete_and_disjoint():
    train = load_dataset("digits", "train")
    test = load_dataset("digits", "test")
    assert len(train) + len(test) == 1797
    assert len(test) == 360
    assert train.pixels.shape[1:] == (8, 8)
    assert train.pixel_max == 16
    assert int(train.pixels.max()) <= 16
    train_rows = {row.tobytes() + bytes([label]) for row, label in zip(train.pixels, train.labels)}
    test_rows = {row.tobytes() + bytes([label]) for row, label in zip(test.pixels, test.labels)}
    assert len(train_rows & test_rows) <= 2  # the digits set itself holds a few duplicate images


def test_fashion_mnist_test_split_loads():
    test = load_dataset("fashion-mnist", "test")
    assert test.pixels.shape == (10000, 28, 28)
    assert test.pixels.dtype == np.uint8
    assert sorted(np.unique(test.labels)) == list(range(10))
    assert np.bincount(test.labels).tolist() == [1000] * 10
    x, y = test.tensors(limit=5)
    assert x.shape == (5, 1, 28, 28)
    assert float(x.max()) <= 1.0
    assert y.tolist() == test.labels[:5].tolist()


def test_missing_fashion_mnist_names_package(tmp_path):
    with pytest.raises(MissingDatasetError, match="dataset-fashion-mnist") as error:
        load_dataset("fashion-mnist", "test", root=tmp_path)
    assert "make install" in str(error.value)


def test_unknown_dataset_and_split_rejected():
    with pytest.raises(ValueError, match="dataset must be one of fashion-mnist, digits, not 'cifar'"):
        load_dataset("cifar", "test")
    with pytest.raises(ValueError, match="split must be 'train' or 'test', not 'valid'"):
        load_dataset("digits", "valid")


def test_read_idx_rejects_truncated_file(tmp_path):
    path = tmp_path / "bad-idx.gz"
    header = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big")
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(7))
    with pytest.raises(ValueError, match="holds 7 bytes of data, expected 10"):
        read_idx(path)
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 13, 1]) + bytes(8))
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(path)
