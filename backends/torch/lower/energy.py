"""Energy-based layers: an RBM used feed-forward (the mean of its hidden units) and its tied decoder."""
from __future__ import annotations

from . import HELPERS, TORCH, Lowering
from .common import call, module_call, number, param, simple

HELPERS["RBM"] = '''
class RBM(nn.Module):
    """A restricted Boltzmann machine used as a feed-forward layer: the mean of its hidden units.

    weight is (hidden, visible), drawn from N(0, init_scale); bias is the hidden bias and visible_bias the
    visible one (used by pretraining and reconstruction).
    """

    def __init__(self, visible: int, hidden: int, hidden_units: str, init_scale: float):
        super().__init__()
        self.hidden_units = hidden_units
        self.weight = nn.Parameter(torch.randn(hidden, visible) * init_scale)
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.visible_bias = nn.Parameter(torch.zeros(visible))

    def forward(self, x):
        pre = F.linear(x, self.weight, self.bias)
        if self.hidden_units == "bernoulli":
            return torch.sigmoid(pre)
        if self.hidden_units == "relu":
            return F.relu(pre)
        return pre
'''

HELPERS["TiedDecoder"] = '''
class TiedDecoder(nn.Module):
    """The decoder half of an unrolled RBM: x W + bias, with W the (hidden, visible) weight of its RBM."""

    def __init__(self, visible: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(visible))

    def forward(self, x, weight):
        return F.linear(x, weight.t(), self.bias)
'''


@TORCH.layer("rbm")
def rbm(node):
    a = node.attrs
    module = call("RBM", node.in_shapes[0][0], a["hidden"], hidden_units=f'"{a["hidden_units"]}"',
                  init_scale=number(param(node, "weight").init.scale))      # the schema's N(0, scale)
    return Lowering(simple(module_call), module, helpers=("RBM",))


@TORCH.layer("tied")
def tied(node):
    def forward(target, ref, args):
        return [f"# weight tied to {node.attrs['of']} (transposed)", f"{target} = {ref}({args[0]}, {args[1]})"]
    return Lowering(forward, call("TiedDecoder", node.attrs["units"]), helpers=("TiedDecoder",),
                    weights_of=(node.attrs["of"],))
