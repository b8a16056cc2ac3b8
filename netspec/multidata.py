"""Data for several inputs and outputs: named arrays, .npz files with one array per input, `digits_captions`,
and the per-output test metrics.

Standard library and NumPy only (the PyTorch code generator inlines it beside netspec/data.py). A sample set
with several inputs (or several targets) is an `Arrays`: named arrays of one length that index together.
"""
from __future__ import annotations

import numpy as np

from netspec.data import (
    DataError,
    Dataset,
    check_array,
    check_labels,
    load_digits_arrays,
    read_arrays,
    split_train_test,
)

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
IGNORE = -100          # a target that no loss or accuracy counts (PyTorch's ignore_index; netspec.losses.IGNORE)
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CAPTION_WORDS = (PAD, BOS, EOS, "a", "handwritten", *DIGIT_WORDS)      # index = token id; <pad> is 0


class Arrays:
    """Named arrays with one entry per sample: arrays['image'] is one array, arrays[idx] selects samples."""

    def __init__(self, arrays: dict):
        self.arrays = dict(arrays)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.arrays[key]
        return Arrays({name: value[key] for name, value in self.arrays.items()})

    def __contains__(self, name) -> bool:
        return name in self.arrays

    def names(self) -> list:
        return list(self.arrays)

    def items(self):
        return self.arrays.items()

    def map(self, fn) -> Arrays:
        return Arrays({name: fn(value) for name, value in self.arrays.items()})


def caption_text(ids, words) -> str:
    """The words of a token-id sequence, without <bos>, <pad> and whatever follows <eos>."""
    out = []
    for i in ids:
        if int(i) < 0:                     # an unscored target step (IGNORE)
            continue
        word = words[int(i)] if int(i) < len(words) else "<unk>"
        if word == EOS:
            break
        if word not in (PAD, BOS):
            out.append(word)
    return " ".join(out)


def digits_captions(test_fraction: float, seed: int):
    """(train Arrays, test Arrays, words): sklearn's digits with the caption `<bos> a handwritten seven <eos>`.

    Captions are word tokens (ids into CAPTION_WORDS), padded with <pad> (id 0) to the longest caption. The
    train/test split is `digits`' (same permutation of the same seed). Arrays: image (N, 8, 8) in [0, 1],
    caption (N, L) int64."""
    images, labels = load_digits_arrays()
    lookup = {word: index for index, word in enumerate(CAPTION_WORDS)}
    captions = [[BOS, "a", "handwritten", DIGIT_WORDS[label], EOS] for label in labels]
    longest = max(len(c) for c in captions)
    ids = np.zeros((len(captions), longest), dtype=np.int64)
    for row, caption in enumerate(captions):
        ids[row, :len(caption)] = [lookup[word] for word in caption]
    x_train, c_train, x_test, c_test = split_train_test(images / 16.0, ids, test_fraction, seed)
    return (Arrays({"image": x_train, "caption": c_train}), Arrays({"image": x_test, "caption": c_test}),
            list(CAPTION_WORDS))


def teacher_forcing(split: Arrays):
    """(inputs, target) of a caption set: the model reads the caption shifted right (ends cut) and predicts
    the next token at each step; <pad> targets become IGNORE (-100, never scored)."""
    caption = split["caption"]
    target = np.where(caption[:, 1:] == CAPTION_WORDS.index(PAD), IGNORE, caption[:, 1:])
    return Arrays({"image": split["image"], "tokens": caption[:, :-1]}), target


def bind_inputs(arrays: Arrays, inputs: dict, origin: str, error) -> Arrays:
    """The arrays fed to each spec input (`inputs`: name -> (shape, dtype)).

    An array named after an input feeds it; an input with no array of its name takes the one unclaimed array
    of its kind (integer token ids or floats). Each array is checked against its input's shape and dtype."""
    free = [name for name in arrays.names() if name not in inputs]
    bound = {}
    for name, (shape, dtype) in inputs.items():
        source = name
        if name not in arrays:
            wants_int = dtype.startswith("int")
            kind = [a for a in free if np.issubdtype(arrays[a].dtype, np.integer) == wants_int]
            if len(kind) != 1:
                raise error(f"{origin}: no array '{name}' for input '{name}' (found {', '.join(arrays.names())})",
                            f"name the arrays after the spec's inputs: {', '.join(inputs)}")
            source = kind[0]
            free.remove(source)
        bound[name] = fit_input_array(arrays[source], shape, dtype, f"{origin}: array '{source}'", error)
    return Arrays(bound)


def fit_input_array(value: np.ndarray, shape, dtype: str, origin: str, error) -> np.ndarray:
    """One input's array, reshaped to (samples, *shape) when the shape is fixed; dtype and shape checked."""
    wants_int = dtype.startswith("int")
    if wants_int and not np.issubdtype(value.dtype, np.integer):
        raise error(f"{origin}: holds {value.dtype} values, the input takes integer token ids ({dtype})",
                    "save it with .astype(np.int64)")
    if not wants_int and value.dtype.kind not in "biuf":
        raise error(f"{origin}: must be numeric, found {value.dtype}")
    shape = tuple(shape)
    fixed = all(isinstance(d, int) for d in shape)
    want = "x".join(map(str, shape))
    if fixed and value.ndim >= 1 and int(np.prod(value.shape[1:])) == int(np.prod(shape)):
        value = value.reshape((len(value), *shape))
    elif value.ndim != len(shape) + 1 or any(isinstance(d, int) and d != n for d, n in zip(shape, value.shape[1:])):
        found = "x".join(map(str, value.shape[1:])) or "a single value"
        raise error(f"{origin}: samples have shape {found}, the spec's input is {want}",
                    "give one array per input, shaped (samples, *input shape)")
    return value.astype(np.int64 if wants_int else np.float32)


def named_npz_arrays(found: dict, inputs: dict, outputs: list, origin: str, error):
    """(inputs Arrays, targets) of an .npz with one array per input and `target` (or one per output)."""
    names = list(inputs)
    target_names = ["target"] if len(outputs) == 1 else list(outputs)
    if len(outputs) == 1 and "target" not in found and outputs[0] in found:
        target_names = [outputs[0]]
    missing = [n for n in names + target_names if n not in found]
    if missing:
        raise error(f"{origin}: no array {', '.join(repr(n) for n in missing)} (found {', '.join(sorted(found))})",
                    f"save one array per input ({', '.join(names)}) and "
                    + ("'target'" if len(outputs) == 1 else f"one per output ({', '.join(outputs)})"))
    count = len(found[names[0]])
    for name in names + target_names:
        if np.ndim(found[name]) == 0 or len(found[name]) != count:
            size = "a single value" if np.ndim(found[name]) == 0 else f"{len(found[name])} samples"
            raise error(f"{origin}: array '{name}' has {size} but '{names[0]}' has {count}",
                        "give every array one entry per sample")
    x = bind_inputs(Arrays({n: found[n] for n in names}), inputs, origin, error)
    if len(outputs) == 1:
        return x, found[target_names[0]]
    return x, Arrays({n: found[n] for n in target_names})


def load_multi_dataset(data: dict, inputs: dict, outputs: list, seed: int = 0, loss: str | None = None):
    """A Dataset whose x are Arrays (one per spec input) and y an array (one output) or Arrays (one per output).

    data: the spec's train.data (digits_captions, or npz with one array per input); inputs: name -> (shape,
    dtype) in the spec's order; outputs: the output names."""
    name = data.get("name", "digits")
    test_fraction = float(data.get("test_fraction", 0.2))
    words = []
    if name == "digits_captions":
        train, test, words = digits_captions(test_fraction, seed)
        (x_train, y_train), (x_test, y_test) = teacher_forcing(train), teacher_forcing(test)
        x_train = bind_inputs(x_train, inputs, name, DataError)
        x_test = bind_inputs(x_test, inputs, name, DataError)
        task = "captioning"
    elif name == "npz":
        path = data.get("path")
        found = read_arrays(path, DataError, ".npz data file")
        if isinstance(found, np.ndarray):
            raise DataError(f"{path}: is an .npy file (one array); this spec reads an .npz with one array per "
                            f"input ({', '.join(inputs)}) and 'target'")
        for key, value in found.items():
            check_array(value, f"{path}: array '{key}'", bool(data.get("allow_nan")))
        x, y = named_npz_arrays(found, inputs, outputs, path, DataError)
        if loss and not isinstance(y, Arrays):
            check_labels(y, f"{path}: array 'target'", loss)
        order = np.random.default_rng(seed).permutation(len(x))
        x, y = x[order], y[order]
        cut = len(x) - max(1, round(len(x) * test_fraction)) if test_fraction > 0 else len(x)
        if cut <= 0:
            raise DataError(f"{path}: {len(x)} sample(s) leave none for training after holding out test_fraction "
                            f"{test_fraction}", "give more samples, or set test_fraction: 0")
        x_train, y_train, x_test, y_test = x[:cut], y[:cut], x[cut:], y[cut:]
        task = "classification" if not isinstance(y, Arrays) and np.issubdtype(y.dtype, np.integer) else "multi"
    else:
        raise DataError(f"data '{name}' feeds one input; a spec with inputs {', '.join(inputs)}"
                        + (f" and outputs {', '.join(outputs)}" if len(outputs) > 1 else "")
                        + " reads 'digits_captions' or an .npz with one array per input",
                        "use data: {name: npz, path: FILE.npz} with arrays named after the inputs and 'target'")
    if data.get("samples"):
        x_train, y_train = x_train[:data["samples"]], y_train[:data["samples"]]
    classes = len(words)
    if not classes and task == "classification":
        classes = int(max(y_train.max(), y_test.max() if len(y_test) else 0) + 1)
    return Dataset(x_train, y_train, x_test, y_test, task, classes, words)


def summarize(loss: float, per_output: dict) -> dict:
    """Test metrics: {'test_loss', 'test_accuracy' (the first class output's)} plus, with several outputs,
    'test_loss/<output>' and 'test_accuracy/<output>'. per_output: name -> (loss, accuracy or None)."""
    result = {"test_loss": loss}
    accuracies = [acc for _, acc in per_output.values() if acc is not None]
    if accuracies:
        result["test_accuracy"] = accuracies[0]
    if len(per_output) > 1:
        for name, (each, acc) in per_output.items():
            result[f"test_loss/{name}"] = each
            if acc is not None:
                result[f"test_accuracy/{name}"] = acc
    return result


def context_arrays(found: dict, inputs: dict, origin: str, error) -> Arrays:
    """The conditioning inputs (`inputs`: name -> (shape, dtype)) from an .npz's arrays: named after the inputs,
    or else the unclaimed arrays that fit; an array 'caption' (reference captions) is kept beside them."""
    chosen = {k: v for k, v in found.items() if k in inputs}
    if len(chosen) < len(inputs):
        chosen.update({k: v for k, v in found.items() if k not in inputs and k != "caption"})
    bound = bind_inputs(Arrays(chosen), inputs, origin, error)
    if "caption" in found and "caption" not in inputs:
        bound.arrays["caption"] = found["caption"]
    return bound
