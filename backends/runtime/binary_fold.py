"""Folding `binary linear -> batchnorm -> binarize` into one integer comparison per output channel (inference).

A bit-packed binary linear layer computes z = k - 2p from p, the number of its k inputs that differ from a weight
row. In eval mode everything up to the next binarize acts on each channel alone and is a chain of correctly
rounded float operations (z + bias, - mean, * inv_std, * gamma, + beta), each monotone in its input, so the
binarised output is +1 exactly on one interval of p (increasing in z for gamma > 0, decreasing for gamma < 0,
constant for gamma == 0). The interval's ends are found by binary search over p, evaluating the chain with the
backend's own lowerings, so the folded layer's packed bits equal the float path's exactly. A layer whose chain is
not finite at both ends of p's range is not folded (without NaNs the monotone argument holds).

A float linear layer (reading real inputs) whose batchnorm and binarize feed packed layers folds the same way
over its float32 output y: the binary search runs over the ordered float32 values in [-BOUND, BOUND], and the
(rare) rows holding a value outside that range, or a NaN, go through the float chain itself (`exact`).
"""
from __future__ import annotations

import numpy as np

BOUND = np.float32(2.0 ** 64)


def fold_chains(graph, packable: set) -> dict:
    """{linear layer: the names of the nodes its fold computes, in order (the last is the binarize)}: a linear
    layer with one feature axis whose output reaches a binarize through at most one eval batchnorm, every node of the chain read by the
    next alone, and the binarized output read only by packable linear layers."""
    consumers = graph.consumers()
    outputs = set(graph.outputs)

    def only_reader(node):
        readers = consumers[node.name]
        return graph[readers[0]] if len(readers) == 1 and node.name not in outputs else None

    chains = {}
    for head in graph.layers():
        if head.op != "linear" or len(head.shape) != 1:     # rows of features: packed rows are the samples
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


def chain_values(ops, graph, head, chain: list, params_of, y) -> tuple:
    """(the values before the binarize, the +-1 outputs > 0) of the chain after `head` (its activation first)
    on the head's outputs y, with the backend's lowerings in eval mode."""
    before = y
    for node in [head, *(graph[name] for name in chain)]:
        if node is not head:
            y = ops.forward(node.op, {"op": node.op, "input_grads": (False,)}, [y], params_of(node), node.attrs,
                            False)
            if node.op != "binarize":
                before = y
        if node.activation:
            y = ops.forward(node.activation, {"op": node.activation, "input_grads": (False,)}, [y], {},
                            node.activation_attrs, False)
    return ops.to_numpy(before), ops.to_numpy(y) > 0


def _search(evaluate, first, last) -> tuple | None:
    """(low, high) per channel where the monotone step evaluate(points)[1] is True exactly on [low, high] over
    the integers first..last (arrays per channel: None when the chain is not finite at both ends)."""
    before, plus = evaluate(np.stack([first, last]))
    if not np.isfinite(before).all():
        return None
    at_first, at_last = plus
    rising = ~at_first & at_last                 # +1 from some point on
    falling = at_first & ~at_last                # +1 up to some point
    good, bad = np.where(rising, last, first), np.where(rising, first, last)    # +1 at good, -1 at bad
    search = rising | falling
    while True:
        move = search & (np.abs(good - bad) > 1)
        if not move.any():
            break
        mid = (good + bad) // 2
        plus = evaluate(mid[None, :])[1][0]
        good = np.where(move & plus, mid, good)
        bad = np.where(move & ~plus, mid, bad)
    low = np.where(rising, good, np.where(at_first, first, last + 1))
    high = np.where(falling, good, np.where(at_last, last, first - 1))
    return low, high


def fold_ranges(ops, graph, head, chain: list, params_of, weight_shape: tuple) -> tuple | None:
    """(low, high) int64 arrays: the folded packed layer outputs +1 in channel f exactly where
    low[f] <= p <= high[f] (an empty range where it never does); None where the chain is not finite at p = 0 or
    p = k. params_of(node) gives a node's parameters as the backend's Arrays; the head's weight is (channels, k)."""
    channels, k = weight_shape
    head_params = params_of(head)

    def evaluate(p: np.ndarray) -> tuple:
        y = ops.from_numpy((k - 2 * p).astype(np.float64))    # the product, exact in the backend's float type
        if "bias" in head_params:
            y = y + head_params["bias"]           # as the layer adds it
        return chain_values(ops, graph, head, chain, params_of, y)
    return _search(evaluate, np.zeros(channels, dtype=np.int64), np.full(channels, k, dtype=np.int64))


def _ordered(keys_or_bits: np.ndarray) -> np.ndarray:
    """float32 bit patterns (int32) <-> integers in the floats' order (its own inverse)."""
    b = keys_or_bits.astype(np.int32)
    return b ^ ((b >> 31) & np.int32(0x7FFFFFFF))


def float_fold_ranges(ops, graph, head, chain: list, params_of, channels: int) -> tuple | None:
    """(low, high, exact) for a float head: its output y (bias added) gives +1 in channel f exactly where
    low[f] <= y <= high[f] for |y| <= BOUND (float32 arrays); exact(rows of y) -> (+1 outputs > 0) runs the
    chain itself, for rows with a value outside the bound or a NaN. None where the chain is not finite at
    +-BOUND."""
    def values(keys: np.ndarray) -> np.ndarray:
        return _ordered(keys).view(np.float32)

    def evaluate(keys: np.ndarray) -> tuple:
        return chain_values(ops, graph, head, chain, params_of, ops.from_numpy(values(keys)))
    bound = np.array([-BOUND, BOUND], dtype=np.float32).view(np.int32)
    first, last = (np.full(channels, key, dtype=np.int64) for key in _ordered(bound))
    ranges = _search(evaluate, first, last)
    if ranges is None:
        return None

    def exact(y):
        return chain_values(ops, graph, head, chain, params_of, y)[1]
    return values(ranges[0]), values(ranges[1]), exact
