"""Loss/accuracy curves as a PNG without matplotlib: a tiny NumPy rasteriser and a zlib PNG writer."""
from __future__ import annotations

import itertools
import struct
import zlib

import numpy as np

from backends.checkpoint import atomic_write

# 3x5 pixel font for the axis labels (digits, '.', and a few letters)
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", " ": "000000000000000",
    "l": "100100100100111", "o": "000111101101111", "s": "000111100001111", "a": "000011101101011",
    "c": "000111100100111", "e": "000111111100111", "p": "000111101111100", "h": "100100111101101",
    "t": "010111010010011", "r": "000111100100100", "i": "010000010010010", "n": "000110101101101",
    "u": "000101101101111", "y": "000101111001111", "-": "000000111000000", "+": "000010111010000",
    "m": "000111111101101", "g": "000111101111001", "x": "000101010101000", "k": "100101110101101",
}
COLOURS = {"train_loss": (31, 119, 180), "test_loss": (255, 127, 14), "train_accuracy": (44, 160, 44),
           "test_accuracy": (214, 39, 40)}


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an [H, W, 3] uint8 image as PNG."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _line(image, x0, y0, x1, y1, colour) -> None:
    steps = int(max(abs(x1 - x0), abs(y1 - y0), 1)) * 2
    xs = np.rint(np.linspace(x0, x1, steps + 1)).astype(int)
    ys = np.rint(np.linspace(y0, y1, steps + 1)).astype(int)
    ok = (xs >= 0) & (xs < image.shape[1]) & (ys >= 0) & (ys < image.shape[0])
    for dy in (0, 1):
        image[np.clip(ys[ok] + dy, 0, image.shape[0] - 1), xs[ok]] = colour


def _text(image, x, y, text, colour=(0, 0, 0), scale=2) -> None:
    for index, char in enumerate(text.lower()):
        bits = _GLYPHS.get(char, _GLYPHS[" "])
        for k, bit in enumerate(bits):
            if bit == "1":
                top, left = y + (k // 3) * scale, x + index * 4 * scale + (k % 3) * scale
                image[top:top + scale, left:left + scale] = colour


def _panel(image, box, rows, keys, title) -> None:
    left, top, right, bottom = box
    image[top:bottom, left] = image[bottom - 1, left:right] = 0
    series = {k: [(r["epoch"], r[k]) for r in rows if isinstance(r.get(k), (int, float)) and np.isfinite(r[k])]
              for k in keys}
    values = [v for pts in series.values() for _, v in pts]
    epochs = [e for pts in series.values() for e, _ in pts]
    _text(image, left + 4, top - 14, title)
    if not values:
        return
    low, high = min(values), max(values)
    high = high if high > low else low + 1.0
    first, last = min(epochs), max(max(epochs), min(epochs) + 1)
    _text(image, left - 60, top, f"{high:.3g}", scale=2)
    _text(image, left - 60, bottom - 12, f"{low:.3g}", scale=2)
    _text(image, left, bottom + 6, str(first), scale=2)
    _text(image, (left + right) // 2 - 20, bottom + 6, "epoch", scale=2)
    _text(image, right - 30, bottom + 6, str(last), scale=2)
    for key, pts in series.items():
        xy = [(left + (e - first) / (last - first) * (right - left - 2),
               bottom - 2 - (v - low) / (high - low) * (bottom - top - 4)) for e, v in pts]
        for (x0, y0), (x1, y1) in itertools.pairwise(xy):
            _line(image, x0, y0, x1, y1, COLOURS[key])
        if len(xy) == 1:
            _line(image, xy[0][0] - 2, xy[0][1], xy[0][0] + 2, xy[0][1], COLOURS[key])
    # the legend sits on the title line, above the plot, so it never hides a curve
    x = left + 4 + 9 * 8 * 2
    for key in (k for k in keys if series[k]):
        label = key.split("_")[0]
        image[top - 13:top - 5, x:x + 12] = COLOURS[key]
        _text(image, x + 16, top - 14, label)
        x += 16 + len(label) * 8 + 20


def write_training_plot(path: str, rows: list, width: int = 900, height: int = 360) -> None:
    """Loss (left) and accuracy (right) per epoch, written atomically as a PNG."""
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    half = width // 2
    _panel(image, (70, 30, half - 20, height - 30), rows, ("train_loss", "test_loss"), "loss")
    _panel(image, (half + 70, 30, width - 20, height - 30), rows, ("train_accuracy", "test_accuracy"), "accuracy")
    data = png_bytes(image)
    atomic_write(path, lambda handle: handle.write(data))
