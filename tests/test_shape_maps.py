"""The shape layers' index maps (backends/runtime/shape_maps.py) against PyTorch over many sizes: the few
conformance examples cannot reach the rounding corners of nearest and bilinear resizing or every pad width."""
import numpy as np
import pytest

from backends.runtime.shape_maps import axis_maps, linear_taps, nearest_index

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
F = torch.nn.functional


def test_nearest_index_is_pytorchs_for_every_size_pair():
    """mode='nearest' in float32 (the runtime's precision): size given, and an integer scale_factor given."""
    for size in range(1, 33):
        x = torch.arange(size, dtype=torch.float32).reshape(1, 1, size)
        for out in range(1, 97):
            want = F.interpolate(x, size=out, mode="nearest")[0, 0].long().numpy()
            assert (nearest_index(size, out, None) == want).all(), f"{size} -> {out}"
        for scale in range(1, 6):
            want = F.interpolate(x, scale_factor=scale, mode="nearest")[0, 0].long().numpy()
            assert (nearest_index(size, size * scale, scale) == want).all(), f"{size} x{scale}"


def _dense(index, weight, size):
    """The [out, size] matrix of one axis's taps."""
    matrix = np.zeros((index.shape[1], size))
    for t in range(index.shape[0]):
        np.add.at(matrix, (np.arange(index.shape[1]), index[t]), weight[t])
    return matrix


@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_taps_are_pytorchs(align_corners):
    """Interpolating the identity along one axis gives the interpolation matrix: it must be PyTorch's (float64)."""
    for size in range(1, 13):
        eye = torch.eye(size, dtype=torch.float64).reshape(1, size, size, 1)      # channel c holds unit vector c
        for out in range(1, 30):
            want = F.interpolate(eye, size=(out, 1), mode="bilinear", align_corners=align_corners)[0, :, :, 0].T
            got = _dense(*linear_taps(size, out, None, align_corners), size)
            np.testing.assert_allclose(got, want.numpy(), atol=1e-12, err_msg=f"{size} -> {out}")
        for scale in range(2, 5):
            want = F.interpolate(eye, scale_factor=(scale, 1), mode="bilinear", align_corners=align_corners)
            got = _dense(*linear_taps(size, size * scale, scale, align_corners), size)
            np.testing.assert_allclose(got, want[0, :, :, 0].T.numpy(), atol=1e-12, err_msg=f"{size} x{scale}")


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_pad_maps_read_what_f_pad_reads(mode):
    """Every pad width on either side of a 1-D axis: the positions the map reads are F.pad's (-1: the fill)."""
    for size in range(1, 7):
        x = torch.arange(size, dtype=torch.float64).reshape(1, 1, size)
        limit = size - 1 if mode == "reflect" else size + 2
        for before in range(limit + 1):
            for after in range(limit + 1):
                attrs = {"pad": ((before, after),), "mode": mode, "value": -1.0}
                (m,) = axis_maps("pad", attrs, (1, size)) or (None,)
                if m is None:
                    assert before == after == 0
                    continue
                kwargs = {"value": -1.0} if mode == "constant" else {}
                want = F.pad(x, (before, after), mode=mode, **kwargs)[0, 0].long().numpy()
                assert (m.index[0] == want).all(), f"{mode} {before},{after} of {size}"
