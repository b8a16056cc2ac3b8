"""Conv and pool window geometry with PyTorch's rules, shared by the backends' kernels."""
from __future__ import annotations

from compiler.layers.common import transposed_out, window_out


def leading_pads(padding, kernel, dilation, rank: int):
    """Leading pad per spatial axis; 'same' follows PyTorch (extra padding goes at the end)."""
    if padding == "same":
        return tuple((d * (k - 1)) // 2 for k, d in zip(kernel, dilation))
    if padding == "valid":
        return (0,) * rank
    return tuple(padding)


def window_geometry(attrs, rank: int):
    """(kernel, stride, leading pad, dilation) as 2-D tuples (1-D layers get a unit height)."""
    kernel = tuple(attrs["kernel"])
    stride = tuple(attrs.get("stride") or kernel)
    dilation = tuple(attrs.get("dilation") or (1,) * rank)
    pads = leading_pads(attrs.get("padding", 0), kernel, dilation, rank)
    if rank == 1:
        return (1, *kernel), (1, *stride), (0, *pads), (1, *dilation)
    return kernel, stride, pads, dilation


def window_out_size(size, k, s, p, d, ceil_mode=False, same=False):
    """Output length along one axis: the shape rule of the compiler (one formula for the whole project)."""
    return size if same else window_out(size, k, s, p, d, ceil_mode)


def transposed_geometry(attrs, rank: int):
    """A transposed convolution's (kernel, stride, leading pad, dilation, output_padding) as 2-D tuples."""
    kernel, stride, pads, dilation = window_geometry(attrs, rank)
    extra = tuple(attrs["output_padding"])
    return kernel, stride, pads, dilation, (0, *extra) if rank == 1 else extra


def transposed_out_size(in_hw, kernel, stride, pads, dilation, output_padding):
    """The (height, width) a transposed convolution makes of an input's (height, width)."""
    return tuple(transposed_out(*args) for args in zip(in_hw, kernel, stride, pads, dilation, output_padding))
