"""The training plot: a valid PNG whose pixels show each recorded series in its colour."""
import struct
import zlib

import numpy as np

from backends.plot import COLOURS, write_training_plot


def _decode(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    at, chunks = 8, {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        chunks.setdefault(kind, b"")
        chunks[kind] += data[at + 8:at + 8 + length]
        crc = struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0]
        assert crc == zlib.crc32(kind + data[at + 8:at + 8 + length]) & 0xFFFFFFFF
        at += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, width * 3 + 1)
    assert (raw[:, 0] == 0).all()          # filter type 0 on every row
    return raw[:, 1:].reshape(height, width, 3)


def test_plot_draws_every_series(tmp_path):
    rows = [{"epoch": e, "train_loss": 2.0 / e, "test_loss": 2.2 / e, "train_accuracy": 1 - 0.5 / e,
             "test_accuracy": 1 - 0.6 / e} for e in range(1, 11)]
    path = tmp_path / "plot.png"
    write_training_plot(str(path), rows, width=600, height=240)
    image = _decode(path.read_bytes())
    assert image.shape == (240, 600, 3)
    for key, colour in COLOURS.items():
        hits = np.all(image == np.array(colour, np.uint8), axis=-1).sum()
        assert hits > 50, key             # the curve plus its legend swatch


def test_plot_without_accuracy_leaves_that_series_out(tmp_path):
    rows = [{"epoch": e, "train_loss": 1.0 / e} for e in range(1, 4)]
    path = tmp_path / "plot.png"
    write_training_plot(str(path), rows)
    image = _decode(path.read_bytes())
    assert np.all(image == np.array(COLOURS["train_loss"], np.uint8), axis=-1).sum() > 50
    assert not np.all(image == np.array(COLOURS["test_accuracy"], np.uint8), axis=-1).any()
