"""A damaged or crafted checkpoint never crashes netspec: the real CLI exits 1 with one message naming the file.

One tiny spec is trained for one epoch; every case starts from that real checkpoint and damages a copy.
"""
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from backends import checkpoint
from backends.checkpoint import CheckpointError
from tests.trust_cli import assert_refused, netspec

SPEC = """
name: tiny
input: {shape: [1, 8, 8]}
layers:
  - flatten
  - {type: linear, units: 4, activation: relu}
  - {type: linear, units: 10}
train:
  loss: cross_entropy
  optimizer: {type: OPTIMIZER, lr: 0.01}
  epochs: 1
  batch_size: 64
  data: {name: digits, samples: 200}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A directory holding tiny.yaml, its run directory run/ (one epoch) and an input x.npy."""
    root = tmp_path_factory.mktemp("ckpt")
    (root / "tiny.yaml").write_text(SPEC.replace("OPTIMIZER", "adam"))
    (root / "tiny_sgd.yaml").write_text(SPEC.replace("OPTIMIZER", "sgd"))
    result = netspec("train", "tiny.yaml", "-o", "run", "-q", cwd=root)
    assert result.returncode == 0, result.stderr
    np.save(root / "x.npy", np.zeros((3, 1, 8, 8), np.float32))
    return root


def _arrays(trained) -> dict:
    with np.load(trained / "run" / "checkpoint.npz") as archive:
        return {key: archive[key] for key in archive.files}


def _meta(arrays) -> dict:
    return json.loads(bytes(arrays["__meta__"]).decode())


def _write(path, arrays, meta=None, **changes) -> None:
    """Rewrite an .npz with changed entries (None drops one): the zip CRCs are fresh, only the content is wrong."""
    arrays = dict(arrays)
    if meta is not None:
        arrays["__meta__"] = np.frombuffer(meta if isinstance(meta, bytes) else json.dumps(meta).encode(), np.uint8)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key, None)
        else:
            arrays[key] = value
    np.savez(path, **arrays)


def _predict(trained, name):
    return netspec("predict", "tiny.yaml", "--checkpoint", name, "--input", "x.npy", cwd=trained)


def _bytes_case(raw: bytes, case: str) -> bytes:
    if case == "truncated":
        return raw[:len(raw) // 2]
    if case == "empty":
        return b""
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0x08          # inside an array's data: the zip CRC check fails
    return bytes(flipped)


@pytest.mark.parametrize("case, words", [("truncated", ["truncated or damaged"]), ("empty", ["empty"]),
                                         ("bitflip", ["CRC"])])
def test_damaged_file_bytes(trained, case, words):
    raw = (trained / "run" / "checkpoint.npz").read_bytes()
    (trained / f"{case}.npz").write_bytes(_bytes_case(raw, case))
    assert_refused(_predict(trained, f"{case}.npz"), f"{case}.npz", *words)


@pytest.mark.parametrize("case, meta, words", [
    ("badjson", b'{"epoch": 1,', ["not valid JSON"]),
    ("notutf8", b'\xff\xfe{}', ["not UTF-8"]),
    ("notobject", b"[1, 2]", ["must be a JSON object"]),
    ("wrongtype", b'{"epoch": "seven"}', ["'epoch'", "non-negative integer"]),
    ("negative", b'{"epoch": -3}', ["'epoch'"]),
])
def test_corrupt_meta(trained, case, meta, words):
    _write(trained / f"{case}.npz", _arrays(trained), meta)
    assert_refused(_predict(trained, f"{case}.npz"), f"{case}.npz", *words)


def test_checksum_finds_a_change_the_zip_crc_misses(trained):
    arrays = _arrays(trained)
    assert len(_meta(arrays)["sha256"]) == 64
    changed = arrays["linear_3.bias"].copy()
    changed[0] = np.nextafter(changed[0], np.float32(1))         # one bit of one value
    _write(trained / "tampered.npz", arrays, **{"linear_3.bias": changed})
    with zipfile.ZipFile(trained / "tampered.npz") as archive:
        assert archive.testzip() is None                            # every zip CRC passes
    assert_refused(_predict(trained, "tampered.npz"), "tampered.npz", "checksum mismatch")


def test_nan_parameter_is_named(trained):
    state, extra, meta = checkpoint.load(str(trained / "run" / "checkpoint.npz"))
    state["linear_2.weight"][1, 2] = np.nan
    meta.pop("sha256")
    checkpoint.save(str(trained / "nan.npz"), state, meta, extra)  # a valid checksum: the NaN was saved as such
    assert_refused(_predict(trained, "nan.npz"), "nan.npz", "'linear_2.weight'", "NaN")


def test_integer_parameter_is_refused(trained):
    state, extra, meta = checkpoint.load(str(trained / "run" / "checkpoint.npz"))
    state["linear_2.weight"] = state["linear_2.weight"].astype(np.int64)
    meta.pop("sha256")
    checkpoint.save(str(trained / "intweight.npz"), state, meta, extra)
    assert_refused(_predict(trained, "intweight.npz"), "intweight.npz", "wrong dtype linear_2.weight", "int64")


def test_object_array_is_refused_without_unpickling(trained):
    _write(trained / "objects.npz", _arrays(trained))
    payload = io.BytesIO()
    np.save(payload, np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(trained / "objects.npz", "a") as archive:
        archive.writestr("linear_9.weight.npy", payload.getvalue())
    assert_refused(_predict(trained, "objects.npz"), "objects.npz", "'linear_9.weight'", "Python objects")


@pytest.mark.parametrize("name", ["params.npy", "tiny.yaml"])
def test_other_kinds_of_file(trained, name):
    if name.endswith(".npy"):
        np.save(trained / name, np.zeros(4, np.float32))
    assert_refused(_predict(trained, name), name, "not")


def test_old_checkpoint_without_checksum_still_loads(trained):
    arrays = _arrays(trained)
    meta = _meta(arrays)
    del meta["sha256"]
    _write(trained / "old.npz", arrays, meta)
    result = _predict(trained, "old.npz")
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- --resume

def _resume_case(trained, name, meta_changes=None, spec="tiny.yaml", backend="numpy", **changes):
    """Copy run/ to name/, rewrite its checkpoint without a checksum (as an older netspec wrote it), resume."""
    run = trained / name
    shutil.copytree(trained / "run", run)
    arrays = _arrays(trained)
    meta = {k: v for k, v in _meta(arrays).items() if k != "sha256"}
    meta.update(meta_changes or {})
    _write(run / "checkpoint.npz", arrays, meta, **changes)
    return netspec("train", spec, "-o", name, "--resume", "--epochs", "2", "-q", "--backend", backend, cwd=trained)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.slow)])
def test_wrong_shaped_optimizer_state(trained, backend):
    """This was a segmentation fault on the NumPy backend (its fused Adam kernel ran past the array)."""
    result = _resume_case(trained, f"optshape_{backend}", backend=backend,
                          **{"__opt__/linear_2.weight/exp_avg": np.zeros(3, np.float32)})
    assert_refused(result, "checkpoint.npz", "exp_avg", "(3,)", "(4, 64)")


def test_missing_optimizer_state_is_not_resumed_silently(trained):
    drop = {key: None for key in _arrays(trained) if key.startswith("__opt__/")}
    result = _resume_case(trained, "noopt", **drop)
    assert_refused(result, "checkpoint.npz", "no optimizer state")


def test_optimizer_state_of_another_optimizer(trained):
    result = _resume_case(trained, "otheropt", spec="tiny_sgd.yaml")
    assert_refused(result, "checkpoint.npz", "exp_avg", "sgd")


def test_bad_step_count(trained):
    result = _resume_case(trained, "steps", **{"__opt__/steps": np.array([1.5, 2.0])})
    assert_refused(result, "checkpoint.npz", "steps")


def test_garbage_rng_state(trained):
    result = _resume_case(trained, "rng", {"rng": {"bit_generator": "PCG64", "state": {"state": -5, "inc": "x"}}})
    assert_refused(result, "checkpoint.npz", "random-number state")


def test_resume_from_intact_checkpoint_still_works(trained):
    result = _resume_case(trained, "intact")
    assert result.returncode == 0, result.stderr
    assert "epochs=2" in result.stdout


# ---------------------------------------------------------------- writing

def test_disk_full_keeps_the_earlier_checkpoint(tmp_path, monkeypatch):
    """In-process: the file system reports ENOSPC when the new file is flushed to disk."""
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(str(path), {"w": np.ones(3, np.float32)}, {"epoch": 1})
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(checkpoint.os, "fsync", full)
    with pytest.raises(CheckpointError, match="No space left on device.*earlier checkpoint there is kept"):
        checkpoint.save(str(path), {"w": np.zeros(3, np.float32)}, {"epoch": 2})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.npz"]           # no temp file left behind


FILL = textwrap.dedent("""
    set -e
    mount -t tmpfs -o size=256k tmpfs "$MNT"
    cp -r run "$MNT/run"
    "$PY" -c 'import os, sys; s = os.statvfs(sys.argv[1]); free = s.f_bavail * s.f_frsize
    open(os.path.join(sys.argv[1], "filler"), "wb").write(bytes(free - 4096))' "$MNT"
    cp "$MNT/run/checkpoint.npz" before.npz
    set +e
    "$PY" -m netspec train tiny.yaml -o "$MNT/run" --resume --epochs 2 -q
    echo "rc=$?"
    cmp -s before.npz "$MNT/run/checkpoint.npz" && echo kept
    ls -a "$MNT/run"
""")


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], check=False,
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs `unshare -rm` to mount a small tmpfs (user namespaces)")
def test_disk_full_on_a_real_full_file_system(trained, tmp_path):
    """A real ENOSPC: the run directory lives on a tmpfs with one free page left when training resumes."""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
           "MNT": str(tmp_path / "mnt"), "PY": sys.executable}
    (tmp_path / "mnt").mkdir()
    result = subprocess.run(["unshare", "-rm", "sh", "-c", FILL], check=False, cwd=trained, env=env,
                            capture_output=True, text=True, timeout=300)
    err = result.stderr
    assert "rc=1" in result.stdout, (result.stdout, err)
    assert "kept" in result.stdout, result.stdout                   # the earlier checkpoint, byte for byte
    assert ".tmp-" not in result.stdout                              # and no half-written temp file
    assert "checkpoint.npz: cannot write the checkpoint: No space left on device" in err, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.count("error:") == 1, err


# ---------------------------------------------------------------- pretraining state

def test_damaged_pretraining_state_is_one_message(tmp_path):
    from backends.energy.resume import STATE_FILE, PretrainProgress
    identity = {"spec": "s", "source_hash": "h", "method": "cd", "backend": "numpy"}
    meta = {**identity, "finished_rng": [{"bit_generator": "PCG64", "state": "garbage"}], "current": None, "rows": []}
    state = {"finished.0.weight": np.zeros((3, 4)), "finished.0.bias": np.zeros(3),
             "finished.0.visible_bias": np.zeros(4)}
    checkpoint.save(str(tmp_path / STATE_FILE), state, meta)
    with pytest.raises(CheckpointError, match="random-number state of finished layer 0 is damaged"):
        PretrainProgress(str(tmp_path), identity, resume=True)
    meta["finished_rng"] = [np.random.default_rng(0).bit_generator.state]
    state["finished.0.bias"] = np.zeros(5)
    checkpoint.save(str(tmp_path / STATE_FILE), state, meta)
    with pytest.raises(CheckpointError, match="do not fit together"):
        PretrainProgress(str(tmp_path), identity, resume=True)
