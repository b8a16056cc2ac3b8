"""A "digits FID": the Fréchet distance between Gaussians fitted to a classifier's penultimate-layer features
of two image sets (Heusel et al. 2017, with a small digits classifier in place of Inception).

NumPy only: the matrix square root's trace comes from two symmetric eigendecompositions,
tr sqrt(S1 S2) = tr sqrt(sqrt(S1) S2 sqrt(S1)), which stays real and stable where S1 S2 is not symmetric.
"""
from __future__ import annotations

import copy

import numpy as np


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to the rows of `a` and of `b` (features)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = _sqrt_psd(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cov_b @ root), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


class FeatureClassifier:
    """A trained classifier (a Model of the shared runtime) that gives class probabilities and the features
    its last layer reads (the penultimate layer's output)."""

    def __init__(self, model):
        self.model = model
        graph = model.graph
        last = graph[graph.outputs[0]]
        features = copy.copy(graph)
        features.outputs = [last.inputs[0]]
        from .executor import Executor
        self.features_of = Executor(features, model.ops, model.state)

    def features(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        ops, name = self.model.ops, self.features_of.graph.outputs[0]
        parts = [ops.to_numpy(self.features_of.forward(self.model.feed(x[i:i + batch_size]))
                              [name]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts).reshape(len(x), -1)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        logits = self.model.predict(x).astype(np.float64)
        if self.model.output_activation == "softmax":
            return logits
        shifted = np.exp(logits - logits.max(-1, keepdims=True))
        return shifted / shifted.sum(-1, keepdims=True)

    def fid(self, x: np.ndarray, reference: np.ndarray) -> float:
        return frechet_distance(self.features(x), self.features(reference))
