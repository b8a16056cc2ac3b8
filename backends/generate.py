"""Captions (or any token sequences) from a trained checkpoint on any backend, and their scores.

The model reads its token input (the one integer input with a symbolic length) and predicts the next token at
its last step; every other input (the image) conditions it. Decoding itself is netspec/decode.py.
"""
from __future__ import annotations

from netspec.decode import beam_search, caption_scores, log_softmax
from netspec.errors import UserError
from netspec.multidata import BOS, EOS, PAD, Arrays


def token_input(graph) -> str:
    """The name of the graph's token input: the integer input whose length is not fixed."""
    found = [name for name in graph.inputs if graph[name].dtype.startswith("int")
             and not all(isinstance(d, int) for d in graph[name].shape)]
    if len(found) != 1:
        raise UserError(f"spec '{graph.name}' has no token input to generate into (an int input of shape [T])"
                        if not found else f"spec '{graph.name}' has {len(found)} token inputs; generation feeds one",
                        "generate from a captioning or language-model spec (specs/captioning.yaml)")
    return found[0]


def special_ids(words: list) -> tuple[int, int]:
    if BOS not in words or EOS not in words:
        raise UserError(f"the vocabulary has no {BOS}/{EOS} words to start and end a caption",
                        "train on data with captions (data: {name: digits_captions})")
    return words.index(BOS), words.index(EOS)


def generate(graph, run_all, context: Arrays, words: list, beam: int = 1, max_length: int = 20,
             alpha: float = 1.0, batch_size: int = 128) -> list:
    """The token ids (without <bos>, up to and including <eos>) generated for every sample of `context`
    (Arrays of the non-token inputs). run_all: x -> {output: array} (backends.serve.predictor_all)."""
    tokens, output = token_input(graph), graph.outputs[0]
    bos, eos = special_ids(words)
    out = []
    for start in range(0, len(context), batch_size):
        chunk = context[start:start + batch_size]

        def step(rows, prefixes, chunk=chunk):
            logits = run_all(Arrays({**chunk[rows].arrays, tokens: prefixes}))[output]
            return log_softmax(logits[:, -1])
        out += beam_search(step, len(chunk), [bos], eos, beam, max_length, alpha)
    return out


__all__ = ["PAD", "caption_scores", "generate", "special_ids", "token_input"]
