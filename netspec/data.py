"""Datasets for training: scikit-learn's bundled digits, MNIST IDX files, .npz files, text, synthetic.

This module depends on the standard library and NumPy only (scikit-learn is imported lazily for
`digits`), so the PyTorch code generator can inline it into standalone model files.
Every fault in a data file raises DataError with one clear message.
"""
from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

try:  # inside netspec a DataError is a UserError (exit 1, one line); standalone it is a plain Exception
    from netspec.errors import UserError as _ErrorBase
except ImportError:  # pragma: no cover - inlined into generated model files
    _ErrorBase = Exception


class DataError(_ErrorBase):
    """A data file is missing or malformed."""

    def __init__(self, message: str, hint: str | None = None):
        Exception.__init__(self, message + (f"; {hint}" if hint else ""))


@dataclass
class Dataset:
    """Train/test arrays; x is float32 (or int64 token ids), y int64 labels or float targets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str = "classification"          # classification | regression | reconstruction | language_model
    classes: int = 0
    vocab: list = field(default_factory=list)   # text: the characters, index = token id
    labeled: np.ndarray | None = None     # mask of training samples whose label may be used


def split_train_test(x, y, test_fraction, seed):
    """x, y shuffled with `seed` and cut into (x_train, y_train, x_test, y_test); the test part holds `test_fraction`."""
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) - max(1, round(len(x) * test_fraction)) if test_fraction > 0 else len(x)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def _shift_augment(x_images, y):
    """Add copies nudged by one pixel up, down, left and right (five times the data)."""
    images = [x_images]
    for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
        shifted = np.roll(x_images, step, axis=axis)
        edge = [slice(None)] * 3
        edge[axis] = 0 if step == 1 else -1
        shifted[tuple(edge)] = 0
        images.append(shifted)
    return np.concatenate(images), np.tile(y, 5)


def load_digits_arrays():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the 'digits' dataset needs scikit-learn: pip install scikit-learn") from None
    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


def read_arrays(path: str, error=DataError, what: str = "data file"):
    """The array of an .npy file, or every array of an .npz file as a dict, read in full without pickle.

    Any fault in the file (missing, empty, truncated, damaged, a failed zip CRC, Python objects) raises
    `error` with one line that names the file and the fault."""
    try:
        if os.path.isdir(path):
            raise error(f"{path}: is a directory, not a file")
        if os.path.getsize(path) == 0:
            raise error(f"{path}: the {what} is empty (0 bytes)")
    except OSError as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else f"cannot read it: {exc.strerror or exc}"
        raise error(f"{path}: {what} {reason}") from None
    name = None
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            arrays = {}
            for name in loaded.files:
                arrays[name] = loaded[name]
            return arrays
    except ValueError as exc:
        if "pickle" in str(exc).lower():     # numpy's own words name an option netspec never turns on
            if name is None:
                raise error(f"{path}: not a NumPy .npy or .npz file (the {what} is in some other format)") from None
            raise error(f"{path}: array '{name}' holds Python objects (an object array); netspec reads numeric "
                        "arrays only", "save it with a numeric dtype, e.g. np.asarray(a, dtype=np.float32)") from None
        raise error(f"{path}: the {what} is damaged{_where(name)}: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error, KeyError, NotImplementedError,
            RuntimeError, UnicodeError) as exc:
        reason = "a zip CRC check failed" if "CRC" in str(exc) else str(exc) or type(exc).__name__
        raise error(f"{path}: the {what} is truncated or damaged{_where(name)} ({reason})") from None
    except MemoryError:
        raise error(f"{path}: array '{name}' claims more memory than there is (a damaged header?)") from None


def _where(name) -> str:
    return f" in array '{name}'" if name is not None else ""


def check_array(value: np.ndarray, origin: str, allow_nan: bool = False, allow_empty: bool = False) -> np.ndarray:
    """Refuse arrays that no model can consume: non-numeric or complex, scalar, empty, or with NaN/inf values
    (unless allow_nan). `origin` names the array in messages (e.g. "data.npz: array 'x'")."""
    kind = value.dtype.kind
    if kind == "c":
        raise DataError(f"{origin}: complex values ({value.dtype}) are not supported",
                        "pass the real part or the magnitude (np.abs)")
    if kind not in "biuf":
        raise DataError(f"{origin}: must be numeric, found {value.dtype}")
    if value.ndim == 0:
        raise DataError(f"{origin}: is a single value; it needs one entry per sample, shape (samples, ...)")
    if len(value) == 0 and not allow_empty:
        raise DataError(f"{origin}: has no samples (shape {value.shape})")
    if kind == "f" and not allow_nan:
        bad = ~np.isfinite(value)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{origin}: holds {int(bad.sum())} NaN/inf value(s), the first at index {first}",
                            "clean the data, or pass --allow-nan to use it as it is")
    return value


def read_idx(path: str) -> np.ndarray:
    """An IDX file (MNIST format), gzipped or not."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file: {exc.strerror or exc}") from None
    except (EOFError, zlib.error) as exc:
        raise DataError(f"{path}: the gzip stream is truncated or damaged ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise DataError(f"{path}: unknown IDX element type 0x{raw[2]:02x}")
    rank = raw[3]
    if rank == 0:
        raise DataError(f"{path}: IDX file of rank 0 (a single value); images have rank 3 and labels rank 1")
    if len(raw) < 4 + 4 * rank:
        raise DataError(f"{path}: IDX header is truncated")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    dtype = np.dtype(dtypes[raw[2]])
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
    body = raw[4 + 4 * rank:]
    if len(body) != expected:
        raise DataError(f"{path}: IDX body has {len(body)} bytes, the header promises {expected} "
                        f"(dims {'x'.join(map(str, dims))})")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _find(directory: str, stems) -> str:
    for stem in stems:
        for suffix in ("", ".gz"):
            path = os.path.join(directory, stem + suffix)
            if os.path.exists(path):
                return path
    raise DataError(f"{directory}: no {stems[0]} file (looked for {', '.join(stems)}, optionally .gz)")


def load_mnist(directory: str):
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: MNIST directory not found (expected train-images-idx3-ubyte[.gz] etc.)")
    parts = []
    for split in ("train", "t10k"):
        images_path = _find(directory, [f"{split}-images-idx3-ubyte", f"{split}-images.idx3-ubyte"])
        labels_path = _find(directory, [f"{split}-labels-idx1-ubyte", f"{split}-labels.idx1-ubyte"])
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1:
            bad, found, want = (images_path, images, 3) if images.ndim != 3 else (labels_path, labels, 1)
            raise DataError(f"{bad}: IDX file of rank {found.ndim} (dims {'x'.join(map(str, found.shape))}); "
                            f"MNIST {'images' if want == 3 else 'labels'} have rank {want}")
        if len(images) != len(labels):
            raise DataError(f"{directory}: {split} has {len(images)} images but {len(labels)} labels")
        if split == "train" and len(images) == 0:
            raise DataError(f"{images_path}: has no images")
        parts.append((images.astype(np.float32), labels.astype(np.int64)))
    return parts


def load_npz(path: str, allow_nan: bool = False):
    """The arrays of a training .npz: x_train, y_train (and x_test, y_test), or x, y; each one checked."""
    found = read_arrays(path, DataError, ".npz data file")
    if isinstance(found, np.ndarray):
        raise DataError(f"{path}: is an .npy file (one array); training data is an .npz with arrays x, y "
                        "(or x_train, y_train, x_test, y_test)", "write it with np.savez(path, x=x, y=y)")
    keys = set(found)
    if {"x_train", "y_train"} <= keys:
        arrays = {k: found[k] for k in ("x_train", "y_train", "x_test", "y_test") if k in keys}
    elif {"x", "y"} <= keys:
        arrays = {"x": found["x"], "y": found["y"]}
    else:
        raise DataError(f"{path}: .npz needs arrays x_train, y_train (and x_test, y_test) or x, y; "
                        f"found {', '.join(sorted(keys)) or 'none'}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path}: has {'x_test' if 'x_test' in arrays else 'y_test'} without its partner",
                        "give both x_test and y_test, or neither")
    for key, value in arrays.items():
        check_array(value, f"{path}: array '{key}'", allow_nan, allow_empty=key.endswith("_test"))
    for x_key, y_key in (("x", "y"), ("x_train", "y_train"), ("x_test", "y_test")):
        if x_key in arrays and len(arrays[x_key]) != len(arrays[y_key]):
            raise DataError(f"{path}: array '{x_key}' has {len(arrays[x_key])} samples but '{y_key}' has "
                            f"{len(arrays[y_key])}", "give one target per sample")
    return arrays


def check_labels(y: np.ndarray, origin: str, loss: str | None) -> None:
    """Class labels for a cross-entropy loss: integers from 0 (a float array of labels is refused)."""
    if loss != "cross_entropy" or not len(y):
        return
    if y.dtype.kind not in "iub":
        raise DataError(f"{origin}: loss cross_entropy needs integer class labels, found {y.dtype} values",
                        "save the labels as integers (y.astype(np.int64)), or use loss: mse for real-valued targets")
    if y.min() < 0:
        raise DataError(f"{origin}: class labels start at 0, found {int(y.min())}")


def load_text(path: str, seq_len: int, test_fraction: float):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read text file: {exc}") from None
    if len(text) < seq_len + 2:
        raise DataError(f"{path}: text has {len(text)} characters, fewer than seq_len + 2 = {seq_len + 2}")
    vocab = sorted(set(text))
    lookup = {char: index for index, char in enumerate(vocab)}
    ids = np.fromiter((lookup[char] for char in text), dtype=np.int64, count=len(text))
    starts = np.arange(0, len(ids) - seq_len - 1, max(1, seq_len // 2))
    x = np.stack([ids[s:s + seq_len] for s in starts])
    y = np.stack([ids[s + 1:s + seq_len + 1] for s in starts])
    cut = max(1, int(len(x) * (1 - test_fraction)))
    return x[:cut], y[:cut], x[cut:] if cut < len(x) else x[-1:], y[cut:] if cut < len(y) else y[-1:], vocab


def fit_shape(x: np.ndarray, shape: tuple, origin: str) -> np.ndarray:
    """Reshape per-sample data to the spec's input shape (e.g. 28x28 images to 1x28x28)."""
    per_sample = int(np.prod(x.shape[1:]))
    want = int(np.prod(shape))
    if per_sample != want:
        found = f"have shape {'x'.join(map(str, x.shape[1:]))} ({per_sample} values)" if x.ndim > 1 else \
            "are single values"
        raise DataError(f"{origin}: samples {found}, the spec's input is {'x'.join(map(str, shape))} "
                        f"({want} values)")
    return x.reshape((len(x), *shape))


def load_dataset(data: dict, input_shape: tuple, seed: int = 0, input_dtype: str = "float32",
                 loss: str | None = None) -> Dataset:
    """Load the dataset a spec's `train.data` names, shaped to the spec's (fixed) input shape.

    `loss` (the spec's, None when the targets are not used): cross_entropy refuses targets that are not
    integer class labels. `data['allow_nan']` lets NaN/inf values of an .npz through."""
    name = data.get("name", "digits")
    test_fraction = float(data.get("test_fraction", 0.2))
    path = data.get("path")
    task, vocab = "classification", []
    if name == "digits":
        images, labels = load_digits_arrays()
        if data.get("shift_augment"):
            images, labels = _shift_augment(images, labels)
        x_train, y_train, x_test, y_test = split_train_test(images, labels, test_fraction, seed)
        x_train, x_test = x_train / 16.0, x_test / 16.0
    elif name == "mnist":
        (x_train, y_train), (x_test, y_test) = load_mnist(path)
        x_train, x_test = x_train / 255.0, x_test / 255.0
    elif name == "npz":
        arrays = load_npz(path, bool(data.get("allow_nan")))
        for key in ("y", "y_train", "y_test"):
            if key in arrays:
                check_labels(arrays[key], f"{path}: array '{key}'", loss)
        if "x" in arrays:
            x_train, y_train, x_test, y_test = split_train_test(arrays["x"], arrays["y"], test_fraction, seed)
        else:
            x_train, y_train = arrays["x_train"], arrays["y_train"]
            x_test, y_test = arrays.get("x_test", x_train[:0]), arrays.get("y_test", y_train[:0])
        if len(x_train) == 0:
            raise DataError(f"{path}: {len(arrays['x'])} sample(s) leave none for training after holding out "
                            f"test_fraction {test_fraction}", "give more samples, or set test_fraction: 0")
        task = "classification" if np.issubdtype(y_train.dtype, np.integer) else "regression"
    elif name == "inline":        # `data: {x: [...], y: [...]}` in the spec (a truth table): all of it trains and tests
        x_train, y_train = np.asarray(data["x"], dtype=np.float32), np.asarray(data["y"])
        if np.all(y_train == np.round(y_train)) and loss == "cross_entropy":
            y_train = y_train.astype(np.int64)
        x_test, y_test = x_train, y_train
        task = "classification" if y_train.dtype.kind == "i" else "regression"
    elif name == "text":
        x_train, y_train, x_test, y_test, vocab = load_text(path, int(data.get("seq_len", 64)), test_fraction)
        task = "language_model"
    elif name == "synthetic":
        classes = int(data.get("classes") or 2)
        rng = np.random.default_rng(seed)
        count = int(data.get("samples") or 512)
        centres = rng.normal(0, 1, (classes, int(np.prod(input_shape))))
        labels = rng.integers(0, classes, count)
        x = centres[labels] + rng.normal(0, 0.5, (count, centres.shape[1]))
        x_train, y_train, x_test, y_test = split_train_test(x, labels, test_fraction, seed)
    else:
        raise DataError(f"unknown dataset '{name}'")
    if data.get("scale") == "standard" and task != "language_model":
        mean, std = x_train.mean(), x_train.std() + 1e-8
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    if task != "language_model":
        x_train = fit_shape(np.asarray(x_train), input_shape, path or name)
        x_test = fit_shape(np.asarray(x_test), input_shape, path or name)
        dtype = np.int64 if input_dtype.startswith("int") else np.float32
        x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    if data.get("samples") and name != "synthetic":
        x_train, y_train = x_train[:data["samples"]], y_train[:data["samples"]]
    labeled = None
    if data.get("labels"):
        labeled = np.zeros(len(x_train), dtype=bool)
        labeled[:data["labels"]] = True
    classes = int(max(y_train.max(), y_test.max() if len(y_test) else 0) + 1) if task == "classification" else 0
    if task == "language_model":
        classes = len(vocab)
    y_dtype = np.int64 if task in ("classification", "language_model") else np.float32
    return Dataset(x_train, y_train.astype(y_dtype), x_test, y_test.astype(y_dtype), task, classes, vocab, labeled)
