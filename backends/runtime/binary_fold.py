"""Folding `binary linear -> batchnorm -> binarize` into one integer comparison per output channel (inference).

A bit-packed binary linear layer computes z = k - 2p from p, the number of its k inputs that differ from a weight
row. In eval mode everything up to the next binarize acts on each channel alone and is a chain of correctly
rounded float operations (z + bias, - mean, * inv_std, * gamma, + beta), each monotone in its input, so the
binarised output is +1 exactly on one interval of p (increasing in z for gamma > 0, decreasing for gamma < 0,
constant for gamma == 0). The interval's ends are found by binary search over p, evaluating the chain with the
backend's own lowerings, so the folded layer's packed bits equal the float path's exactly. A layer whose chain is
not finite at both ends of p's range is not folded (without NaNs the monotone argument holds).
"""
from __future__ import annotations

import numpy as np


def fold_chains(graph, packable: set) -> dict:
    """{binary linear layer: the names of the nodes its fold computes, in order (the last is the binarize)}: a
    packable linear whose output reaches a binarize through at most one eval batchnorm, every node of the chain
    read by the next alone, and the binarized output read only by packable linear layers."""
    consumers = graph.consumers()
    outputs = set(graph.outputs)

    def only_reader(node):
        readers = consumers[node.name]
        return graph[readers[0]] if len(readers) == 1 and node.name not in outputs else None

    chains = {}
    for head in graph.layers():
        if head.name not in packable or head.op != "linear":
            continue
        chain, node = [], head
        if node.activation is None:
            after = only_reader(node)
            if after is not None and after.op == "batchnorm":
                chain.append(after.name)
                node = after
        if node.activation is None:
            after = only_reader(node)
            if after is None or after.op != "binarize" or after.activation is not None:
                continue
            chain.append(after.name)
            node = after
        elif node.activation != "binarize":
            continue
        readers = consumers[node.name]
        if readers and node.name not in outputs and all(
                r in packable and graph[r].op == "linear" and graph[r].inputs == [node.name] for r in readers):
            chains[head.name] = chain
    return chains


def fold_ranges(ops, graph, head, chain: list, params_of, weight_shape: tuple) -> tuple | None:
    """(low, high) int64 arrays: the folded layer outputs +1 in channel f exactly where low[f] <= p <= high[f]
    (an empty range where it never does); None where the chain is not finite at p = 0 or p = k.
    params_of(node) gives a node's parameters as the backend's Arrays; the head's weight is (channels, k)."""
    channels, k = weight_shape
    head_params = params_of(head)
    steps = [graph[name] for name in chain]

    def evaluate(p: np.ndarray) -> tuple:
        """(the chain's values before its binarize, its +-1 outputs) for rows of per-channel p (float path)."""
        y = ops.from_numpy((k - 2 * p).astype(np.float64))    # the product, exact in the backend's float type
        if "bias" in head_params:
            y = y + head_params["bias"]           # as the layer adds it
        before = y
        for node in [head, *steps]:
            if node is not head:
                y = ops.forward(node.op, {"op": node.op, "input_grads": (False,)}, [y], params_of(node),
                                node.attrs, False)
                if node.op != "binarize":
                    before = y
            if node.activation:
                y = ops.forward(node.activation, {"op": node.activation, "input_grads": (False,)}, [y], {},
                                node.activation_attrs, False)
        return ops.to_numpy(before), ops.to_numpy(y) > 0

    ends = np.stack([np.zeros(channels, dtype=np.int64), np.full(channels, k, dtype=np.int64)])
    before, plus = evaluate(ends)
    if not np.isfinite(before).all():
        return None
    at_zero, at_k = plus
    rising = at_zero & ~at_k                     # +1 for small p (large z): gamma > 0
    falling = ~at_zero & at_k                    # gamma < 0
    good = np.where(rising, 0, k)                # a p where the output is +1, and one where it is -1
    bad = np.where(rising, k, 0)
    search = rising | falling
    while True:
        gap = np.abs(good - bad) > 1
        if not (gap & search).any():
            break
        mid = (good + bad) // 2
        plus = evaluate(mid[None, :])[1][0]
        move = gap & search
        good = np.where(move & plus, mid, good)
        bad = np.where(move & ~plus, mid, bad)
    low = np.where(falling, good, np.where(at_zero, 0, 1))
    high = np.where(rising, good, np.where(at_k, k, 0))
    return low.astype(np.int64), high.astype(np.int64)
