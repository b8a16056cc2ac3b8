"""Damaged or unusable data never crashes netspec: train, eval, predict and check exit 1 with one message that
names the file (or the spec line) and says what is wrong. Each case runs the real CLI in a subprocess."""
import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from netspec.data import DataError, check_array
from tests.trust_cli import assert_refused, netspec

NPZ_SPEC = """
name: d
input: {shape: [1, 8, 8]}
layers:
  - flatten
  - {type: linear, units: 10}
train:
  loss: LOSS
  epochs: 1
  data: {name: DATA, path: PATH}
"""


def _spec(tmp_path, data="npz", path="data.npz", loss="cross_entropy", extra=""):
    text = NPZ_SPEC.replace("LOSS", loss).replace("DATA", data).replace("PATH", path)
    if data == "digits":
        text = text.replace(", path: data.npz", "")
    (tmp_path / "d.yaml").write_text(text + extra)
    return "d.yaml"


def _train(tmp_path, *extra, backend="numpy"):
    return netspec("train", "d.yaml", "-o", "run", "-q", "--max-steps", "1", "--backend", backend, *extra,
                   cwd=tmp_path)


RNG = np.random.default_rng(0)
X = RNG.random((40, 1, 8, 8)).astype(np.float32)
Y = RNG.integers(0, 10, 40)


def _good_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=X, y=Y)
    return buffer.getvalue()


@pytest.mark.parametrize("case, words", [("truncated", ["truncated or damaged"]), ("empty", ["empty"]),
                                         ("bitflip", ["CRC"])])
def test_damaged_npz(tmp_path, case, words):
    raw = _good_npz()
    data = {"truncated": raw[:len(raw) // 2], "empty": b""}.get(case)
    if data is None:
        flipped = bytearray(raw)
        flipped[len(raw) // 2] ^= 0x04
        data = bytes(flipped)
    (tmp_path / "data.npz").write_bytes(data)
    _spec(tmp_path)
    assert_refused(_train(tmp_path), "data.npz", *words)


def test_object_array_npz(tmp_path):
    payload = io.BytesIO()
    np.save(payload, np.array([[1.0], None], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "data.npz", "w") as archive:
        archive.writestr("x.npy", payload.getvalue())
        archive.writestr("y.npy", b"")
    _spec(tmp_path)
    assert_refused(_train(tmp_path), "data.npz", "'x'", "Python objects")


@pytest.mark.parametrize("case, arrays, words", [
    ("length", {"x": X, "y": Y[:30]}, ["'x' has 40 samples but 'y' has 30"]),
    ("train_length", {"x_train": X, "y_train": Y[:5]}, ["'x_train' has 40 samples"]),
    ("empty", {"x": X[:0], "y": Y[:0]}, ["'x'", "no samples"]),
    ("scalar", {"x": np.float32(1.0), "y": np.int64(1)}, ["'x'", "single value"]),
    ("nan", {"x": np.where(X > 0.9, np.nan, X), "y": Y}, ["'x'", "NaN/inf", "--allow-nan"]),
    ("inf", {"x": np.where(X > 0.9, np.inf, X), "y": Y}, ["'x'", "NaN/inf"]),
    ("complex", {"x": X.astype(np.complex64), "y": Y}, ["'x'", "complex"]),
    ("strings", {"x": np.array(["a"] * 40), "y": Y}, ["'x'", "numeric"]),
    ("float_labels", {"x": X, "y": Y.astype(np.float64)}, ["'y'", "integer class labels", "float64"]),
    ("negative_labels", {"x": X, "y": Y - 3}, ["'y'", "start at 0"]),
    ("scalar_samples", {"x": X.reshape(-1)[:40], "y": Y}, ["samples are single values", "1x8x8 (64 values)"]),
    ("wrong_names", {"a": X}, ["needs arrays"]),
])
def test_unusable_npz_arrays(tmp_path, case, arrays, words):
    np.savez(tmp_path / "data.npz", **arrays)
    _spec(tmp_path)
    assert_refused(_train(tmp_path), "data.npz", *words)


def test_npy_given_as_training_data(tmp_path):
    np.save(tmp_path / "data.npy", X)
    _spec(tmp_path, path="data.npy")
    assert_refused(_train(tmp_path), "data.npy", ".npy file")


@pytest.mark.slow
def test_float_labels_on_torch(tmp_path):
    np.savez(tmp_path / "data.npz", x=X, y=Y.astype(np.float32))
    _spec(tmp_path)
    assert_refused(_train(tmp_path, backend="torch"), "data.npz", "integer class labels")


def test_eval_refuses_nan_data_unless_allowed(tmp_path):
    np.savez(tmp_path / "data.npz", x=X, y=Y)
    _spec(tmp_path)
    assert _train(tmp_path).returncode == 0
    np.savez(tmp_path / "data.npz", x=np.where(X > 0.9, np.nan, X), y=Y)
    evaluate = ("eval", "d.yaml", "--checkpoint", "run/checkpoint.npz")
    assert_refused(netspec(*evaluate, cwd=tmp_path), "data.npz", "NaN/inf")
    allowed = netspec(*evaluate, "--allow-nan", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr


# ---------------------------------------------------------------- IDX files

def _idx(dims, rank=None) -> bytes:
    body = np.zeros(int(np.prod(dims)), np.uint8).tobytes()
    return bytes([0, 0, 8, len(dims) if rank is None else rank]) + struct.pack(">" + "I" * len(dims), *dims) + body


def _mnist(directory, labels_t10k: bytes):
    directory.mkdir()
    (directory / "train-images-idx3-ubyte").write_bytes(_idx([10, 8, 8]))
    (directory / "train-labels-idx1-ubyte").write_bytes(_idx([10]))
    (directory / "t10k-images-idx3-ubyte").write_bytes(_idx([4, 8, 8]))
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(labels_t10k)


@pytest.mark.parametrize("case, payload, words", [
    ("truncated_gz", gzip.compress(_idx([4]), mtime=0)[:-12], ["gzip stream is truncated or damaged"]),
    ("not_gz", b"plain bytes", ["cannot read IDX file"]),
    ("rank0", gzip.compress(_idx([]), mtime=0), ["rank 0"]),
    ("rank2_labels", gzip.compress(_idx([4, 2]), mtime=0), ["rank 2", "labels have rank 1"]),
])
def test_bad_idx_files(tmp_path, case, payload, words):
    _mnist(tmp_path / "mnist", payload)
    _spec(tmp_path, data="mnist", path="mnist")
    assert_refused(_train(tmp_path), "t10k-labels-idx1-ubyte.gz", *words)


# ---------------------------------------------------------------- predict input

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    np.savez(root / "data.npz", x=X, y=Y)
    _spec(root)
    assert _train(root).returncode == 0
    return root


@pytest.mark.parametrize("case, array, words", [
    ("empty", np.zeros((0, 1, 8, 8), np.float32), ["no samples", "(0, 1, 8, 8)"]),
    ("nan", np.full((2, 1, 8, 8), np.nan, np.float32), ["NaN/inf"]),
    ("complex", np.zeros((2, 1, 8, 8), np.complex128), ["complex"]),
    ("scalar", np.float32(3.0), ["single value"]),
])
def test_unusable_predict_input(model_dir, case, array, words):
    np.save(model_dir / f"{case}.npy", array)
    result = netspec("predict", "d.yaml", "--checkpoint", "run/checkpoint.npz", "--input", f"{case}.npy",
                     cwd=model_dir)
    assert_refused(result, f"{case}.npy", *words)


def test_damaged_predict_input_and_allow_nan(model_dir):
    (model_dir / "cut.npz").write_bytes(_good_npz()[:100])
    base = ("predict", "d.yaml", "--checkpoint", "run/checkpoint.npz", "--input")
    assert_refused(netspec(*base, "cut.npz", cwd=model_dir), "cut.npz", "truncated or damaged")
    np.save(model_dir / "nan.npy", np.full((2, 1, 8, 8), np.nan, np.float32))
    allowed = netspec(*base, "nan.npy", "--allow-nan", cwd=model_dir)
    assert allowed.returncode == 0, allowed.stderr


# ---------------------------------------------------------------- check: loss against data

@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_check_refuses_regression_loss_on_class_labels(tmp_path, loss):
    _spec(tmp_path, data="digits", loss=loss)
    err = assert_refused(netspec("check", "d.yaml", cwd=tmp_path), "d.yaml:8:9", f"loss '{loss}'", "class labels",
                         "cross_entropy")
    assert err.count("\n") == 1, err


def test_check_accepts_reconstruction_with_bce(tmp_path):
    _spec(tmp_path, data="digits", loss="bce", extra="  task: reconstruction\n")
    (tmp_path / "d.yaml").write_text((tmp_path / "d.yaml").read_text().replace("units: 10", "units: 64"))
    result = netspec("check", "d.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_check_array_unit():
    with pytest.raises(DataError, match="holds 1 NaN/inf"):
        check_array(np.array([1.0, np.nan]), "a")
    assert check_array(np.array([1.0, np.nan]), "a", allow_nan=True).shape == (2,)
    assert check_array(np.zeros((0, 3)), "a", allow_empty=True).shape == (0, 3)
