"""The graph input pseudo-layer."""
from ..registry import LayerType, register


def _infer(node, in_shapes):
    return tuple(node.attrs["shape"])


register(LayerType("input", "input", attrs=[], infer=_infer, min_inputs=0, max_inputs=0,
                   input_dtypes=(), doc="a graph input (declared under input:/inputs:)"))
