"""Run an IR graph forward and backward with any backend's Ops (backend-neutral)."""
from __future__ import annotations

from .binary_fold import BOUND, float_fold_ranges, fold_chains, fold_ranges

BINARY_KEEPING = ("flatten", "reshape", "maxpool1d", "maxpool2d", "global_maxpool")   # +-1 in, +-1 out


def binarised_input(graph, node) -> bool:
    """Whether a layer's (single) input holds only +-1: a `binarize` output, maybe flattened or max-pooled."""
    if len(node.inputs) != 1:
        return False
    source = graph[node.inputs[0]]
    while source.op in BINARY_KEEPING:
        source = graph[source.inputs[0]]
    return source.op == "binarize" or source.activation == "binarize"


class Executor:
    """Forward/backward over a Graph: `state` maps checkpoint keys (PyTorch names) to backend Arrays.

    forward(inputs, train) -> {output name: Array}; after a training forward, backward(grads of the
    outputs) -> {checkpoint key: gradient Array} for every trainable parameter. With grad_inputs, backward
    also leaves the gradients of the float graph inputs in `input_gradients` (conformance and gradient checks).
    With plan=False the Ops' thread plan is left as it is (a cell's step graph runs inside its model's plan).
    With defer_weights, a lowering may return a weight gradient as factors to be joined later (`join()`: a cell
    forms one product over all its steps instead of one per step; ctx['defer_weights'] asks for it).
    """

    def __init__(self, graph, ops, state: dict, grad_inputs: bool = False, plan: bool = True,
                 defer_weights: bool = False, frozen: bool = False):
        self.graph, self.ops, self.state = graph, ops, state
        self.defer_weights = defer_weights
        self.frozen = frozen       # the parameters never change (predict, eval): binary weights binarise once
        self.binary_cache: dict = {}
        # binary layers that read +-1 inputs: a backend with `pack_weight` runs them bit-packed when frozen
        self.packable = {n.name for n in graph.layers() if n.attrs.get("binary") is True and binarised_input(graph, n)
                         and frozen and hasattr(ops, "pack_weight")}
        # linear layers whose batchnorm + binarize feed packed layers: one range per channel, packed bits out
        self.folds = fold_chains(graph, self.packable) if self.packable else {}
        self.folded_into = {name: head for head, chain in self.folds.items() for name in chain}
        self.fold_cache: dict = {}
        ops.lowerings.require(graph)
        self.nodes = graph.layers()
        self.params = {n.name: {t.name: f"{n.module_path}.{t.name}" for t in (*n.params, *n.buffers)}
                       for n in self.nodes}
        self.trainable = {n.name: {t.name for t in n.params if t.trainable} for n in self.nodes}
        for n in self.nodes:     # a tied decoder borrows its rbm's weight; both uses add to one gradient
            if n.op == "tied":
                self.params[n.name]["weight"] = f"{graph[n.attrs['of']].module_path}.weight"
                self.trainable[n.name].add("weight")
        self.contexts: dict = {}
        # an output needs a gradient when some trainable parameter lies upstream of it; kernels may skip the
        # gradient of an input that needs none (ctx['input_grads'][i] is False: graph data, flatten of data, ...)
        self.requires_grad: dict = {}
        for n in graph:
            if n.op == "input":
                self.requires_grad[n.name] = grad_inputs and n.dtype.startswith("float")
            else:
                self.requires_grad[n.name] = bool(self.trainable.get(n.name)) or any(
                    self.requires_grad[i] for i in n.inputs)
        self.input_gradients: dict = {}
        self.input_grads = {n.name: tuple(self.requires_grad[i] for i in n.inputs) for n in self.nodes}
        if plan:
            ops.plan(graph, self.packable)

    def node_params(self, node) -> dict:
        return {local: self.state[key] for local, key in self.params[node.name].items()}

    def forward(self, inputs: dict, train: bool = False) -> dict:
        """Every graph output for a batch; `inputs` maps graph input names to Arrays."""
        values = dict(inputs)
        self.contexts = {}
        remaining = self._use_counts()
        for node in self.nodes:
            head = self.folded_into.get(node.name)
            if train or head is None or self.fold_cache.get(head) is None:    # else computed by its fold's head
                self._run(node, values, train)
            if not train:
                for name in node.inputs:     # free activations nobody needs any more (inference)
                    remaining[name] -= 1
                    if remaining[name] == 0 and name not in self.graph.outputs:
                        values.pop(name, None)
        return {name: values[name] for name in self.graph.outputs}

    def _run(self, node, values: dict, train: bool) -> None:
        """One node forward: its output into `values` (a fold's head: the fold's last node's output)."""
        ops = self.ops
        ctx: dict = {"op": node.op, "input_grads": self.input_grads[node.name]}
        if self.defer_weights:
            ctx["defer_weights"] = True
        act = node.activation
        if act and ops.fuses(node.op, act):      # the layer kernel applies it in the same pass
            ctx["activation"], ctx["activation_attrs"], act = act, node.activation_attrs, None
        args = [values[name] for name in node.inputs]
        params, latent = self.binary_weights(node, self.node_params(node), ctx)
        name = node.name
        folds = not train and name in self.folds and (ctx.get("packed_weight") is not None
                                                     or name not in self.packable)
        fold = self.fold_range(node, params["weight"].shape) if folds else None
        if fold is not None:
            ctx["fold"], act, name = fold, None, (self.folds[name] or [name])[-1]
        out = ops.forward(node.op, ctx, args, params, node.attrs, train)
        act_ctx = None
        if act:
            act_ctx = {"op": act, "input_grads": (True,)}
            out = ops.forward(act, act_ctx, [out], {}, node.activation_attrs, train)
        values[name] = out
        if train:
            self.contexts[node.name] = (ctx, act, act_ctx, latent)

    def fold_range(self, node, weight_shape) -> tuple | None:
        """The folded layer's per-channel ranges (binary_fold.py: popcounts, or float outputs of a float layer),
        made once; None: not folded."""
        if node.name not in self.fold_cache:
            chain = self.folds[node.name]
            if node.name in self.packable:
                ranges = fold_ranges(self.ops, self.graph, node, chain, self.node_params, weight_shape)
            else:                   # a float layer: ranges of its float output, exact beyond +-BOUND
                ranges = float_fold_ranges(self.ops, self.graph, node, chain, self.node_params, weight_shape[0])
                ranges = None if ranges is None else (ranges[0], ranges[1], BOUND, ranges[2])
            self.fold_cache[node.name] = ranges
        return self.fold_cache[node.name]

    def backward(self, grad_outputs: dict) -> dict:
        """Gradients of every trainable parameter, keyed by checkpoint key, given d(loss)/d(output)."""
        ops = self.ops
        grads = dict(grad_outputs)
        param_grads: dict = {}
        for node in reversed(self.nodes):
            grad = grads.pop(node.name, None)
            if grad is None or node.name not in self.contexts:
                continue
            ctx, act, act_ctx, latent = self.contexts.pop(node.name)
            if act:
                grad = ops.backward(act, act_ctx, grad)[0][0]
            grad_inputs, grad_params = ops.backward(node.op, ctx, grad)
            if latent is not None and "weight" in grad_params:    # straight through BIN to the latent weight
                grad_params["weight"] = ops.binary_weight_grad(grad_params["weight"], latent,
                                                               node.attrs["binary"] == "xnor")
            keys = self.params[node.name]
            for local, value in grad_params.items():
                if local in self.trainable[node.name]:
                    key = keys[local]
                    param_grads[key] = value if key not in param_grads else ops.add(param_grads[key], value)
            for name, value in zip(node.inputs, grad_inputs):
                if value is None or not self.requires_grad[name]:
                    continue
                grads[name] = value if name not in grads else ops.add(grads[name], value)
        self.contexts = {}
        self.input_gradients = {name: grads[name] for name in self.graph.inputs if name in grads}
        return param_grads

    def binary_weights(self, node, params: dict, ctx: dict) -> tuple:
        """(params, latent weight): a `binary:` layer computes with BIN(W) (times mean|W| per output channel for
        xnor) in place of its latent weight W, which is returned for the backward pass (None for other layers).
        Frozen, BIN(W) is made once, and a packable layer finds its bit-packed weight in ctx['packed_weight']."""
        mode = node.attrs.get("binary")
        if not mode or "weight" not in params:
            return params, None
        latent = params["weight"]
        cached = self.binary_cache.get(node.name)
        if cached is None:
            binary = self.ops.binarize_weight(latent, mode == "xnor")
            packed = None
            if node.name in self.packable:          # a folded layer's weights take the fold kernel's layout
                folded = node.name in self.folds and self.fold_range(node, latent.shape) is not None
                packed = self.ops.pack_weight(binary, folded=folded)
            cached = (binary, packed)
            if self.frozen:
                self.binary_cache[node.name] = cached
        if cached[1] is not None:
            ctx["packed_weight"] = cached[1]
        return {**params, "weight": cached[0]}, latent

    def _use_counts(self) -> dict:
        counts = {name: 0 for name in self.graph.nodes}
        for node in self.nodes:
            for name in node.inputs:
                counts[name] += 1
        return counts
