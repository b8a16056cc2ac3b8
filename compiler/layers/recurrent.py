"""Sequence layers: embedding, position_embedding, rnn, lstm, gru (multi-layer, bidirectional), PyTorch layouts."""
import math

from netspec.errors import fmt_shape

from ..dims import numel
from ..registry import REQUIRED, Attr, Init, LayerType, ShapeError, normal, register, uniform

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _embedding_infer(node, in_shapes):
    (shape,) = in_shapes
    if len(shape) > 1:
        raise ShapeError(f"expects token ids of shape T (or a single id), found {fmt_shape(shape)}")
    padding_idx = node.attrs["padding_idx"]
    if padding_idx is not None and not -node.attrs["vocab"] <= padding_idx < node.attrs["vocab"]:
        raise ShapeError(f"padding_idx {padding_idx} is outside the vocabulary of {node.attrs['vocab']}")
    return (*shape, node.attrs["dim"])


register(LayerType(
    "embedding", "embedding", infer=_embedding_infer,
    label=lambda node: f"embedding {node.attrs['vocab']}x{node.attrs['dim']}",
    examples=({"attrs": {"vocab": 7, "dim": 3}, "inputs": [[4]], "dtypes": ["int64"]},
              {"attrs": {"vocab": 5, "dim": 2, "padding_idx": 0}, "inputs": [[3]], "dtypes": ["int64"],
               "finite_differences": "PyTorch defines padding_idx's gradient as zero (the row stays fixed)"}), input_dtypes=("int64", "int32"), output_dtype="float32",
    attrs=[Attr("vocab", "int", REQUIRED, min=1, aliases=("num_embeddings", "vocab_size")),
           Attr("dim", "int", REQUIRED, min=1, aliases=("embedding_dim", "units")),
           Attr("padding_idx", "int", None)],
    params=lambda node, ins: [("weight", (node.attrs["vocab"], node.attrs["dim"]),
                               Init("normal", 1.0, zero_row=node.attrs["padding_idx"]))],
    flops=lambda node, ins, out: 0,
    doc="look up a learned vector per token id"))


def _positions_infer(node, in_shapes):
    (shape,) = in_shapes
    if len(shape) != 2:
        raise ShapeError(f"expects a sequence T x features, found {fmt_shape(shape)}",
                         "put it after an 'embedding' (or a linear layer over tokens)")
    length, steps = node.attrs["length"], shape[0]
    if length is None and not isinstance(steps, int):
        raise ShapeError(f"the sequence length {steps} is symbolic, so the table's 'length' must be given",
                         "add 'length: N' (the longest sequence it will see)")
    if length is not None and isinstance(steps, int) and steps > length:
        raise ShapeError(f"the sequence has {steps} steps but the table holds {length} positions",
                         f"set length: {steps} or more")
    if not isinstance(shape[1], int):
        raise ShapeError(f"the feature dim must be fixed, found {shape[1]}")
    return shape


def _positions_params(node, in_shapes):
    steps, features = in_shapes[0]
    return [("weight", (node.attrs["length"] or steps, features), normal(0.02))]


register(LayerType(
    "position_embedding", "embedding", infer=_positions_infer, params=_positions_params,
    aliases=("positional_embedding", "learned_positions", "pos_embedding"),
    attrs=[Attr("length", "int", None, min=1, aliases=("max_length", "max_len"),
                doc="positions in the table (default: the input's fixed length)")],
    flops=lambda node, ins, out: numel(out),
    label=lambda node: "position_embedding" + (f" {node.attrs['length']}" if node.attrs["length"] else ""),
    examples=({"inputs": [[4, 3]]}, {"attrs": {"length": 6}, "inputs": [[4, 2]]}),
    doc="adds a learned vector per position to a T x features sequence (x + W[:T]), as BERT/ViT positions"))


def recurrent_param_layout(op: str, features: int, hidden: int, layers: int, bidirectional: bool,
                           bias: bool = True):
    """PyTorch's parameter names and shapes for nn.RNN / nn.LSTM / nn.GRU."""
    gates = GATES[op] * hidden
    directions = ("", "_reverse") if bidirectional else ("",)
    out = []
    for layer in range(layers):
        width = features if layer == 0 else hidden * len(directions)
        for suffix in directions:
            out.append((f"weight_ih_l{layer}{suffix}", (gates, width)))
            out.append((f"weight_hh_l{layer}{suffix}", (gates, hidden)))
            if bias:
                out.append((f"bias_ih_l{layer}{suffix}", (gates,)))
                out.append((f"bias_hh_l{layer}{suffix}", (gates,)))
    return out


def _make(op: str):
    def infer(node, in_shapes):
        (shape,) = in_shapes
        if len(shape) != 2:
            raise ShapeError(f"expects a sequence T x features, found {fmt_shape(shape)}",
                             "add an 'embedding' for token ids, or 'reshape' to [steps, features]")
        if not isinstance(shape[1], int):
            raise ShapeError(f"the feature dim must be fixed, found {shape[1]}")
        a = node.attrs
        width = a["hidden"] * (2 if a["bidirectional"] else 1)
        return (shape[0], width) if a["return_sequences"] else (width,)

    def params(node, in_shapes):
        a = node.attrs
        bound = uniform(1.0 / math.sqrt(a["hidden"]))   # PyTorch: every weight and bias U(+-1/sqrt(H))
        layout = recurrent_param_layout(op, in_shapes[0][1], a["hidden"], a["layers"], a["bidirectional"], a["bias"])
        return [(name, shape, bound) for name, shape in layout]

    def flops(node, in_shapes, out_shape):
        steps = numel(in_shapes[0][:1])
        weights = sum(numel(shape) for name, shape, _ in params(node, in_shapes) if name.startswith("weight"))
        return steps * weights

    attrs = [Attr("hidden", "int", REQUIRED, min=1, aliases=("hidden_size", "units")),
             Attr("layers", "int", 1, min=1, max=64, aliases=("num_layers",)),
             Attr("bidirectional", "bool", False),
             Attr("dropout", "prob", 0.0, doc="between stacked layers"),
             Attr("return_sequences", "bool", False, doc="every step's output, not only the last"),
             Attr("bias", "bool", True)]
    if op == "rnn":
        attrs.append(Attr("nonlinearity", "choice", "tanh", choices=("tanh", "relu")))
    def label(node):
        a = node.attrs
        text = f"{op} {a['hidden']}"
        if a["layers"] > 1:
            text += f" x{a['layers']} layers"
        return text + (" bidir" if a["bidirectional"] else "")

    examples = ({"attrs": {"hidden": 3}, "inputs": [[4, 2]]},
                {"attrs": {"hidden": 2, "layers": 2, "bidirectional": True, "return_sequences": True}, "inputs": [[3, 2]]})
    register(LayerType(op, "recurrent", attrs=attrs, infer=infer, params=params, flops=flops, label=label,
                       examples=examples,
                       doc=f"{op.upper()} over a T x features sequence (PyTorch layout)"))


for _op in GATES:
    _make(_op)
