"""The unrolled feed-forward net of an RBM stack, fine-tuned by backprop (classifier or tied autoencoder).

A layer is (weight key, bias key, transposed?, activation); a tied decoder layer names the encoder's
weight with transposed=True, so both uses add to one gradient. Parameters live in one dict keyed like
the checkpoint (e.g. 'rbm_0.weight'), so the fine-tuned result drops back into it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .units import sigmoid


@dataclass
class Dense:
    weight: str
    bias: str | None
    transposed: bool = False
    activation: str = "sigmoid"     # sigmoid | relu | identity


def _act(name: str, x: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return sigmoid(x, out=x)
    if name == "relu":
        return np.maximum(x, 0, out=x)
    return x


def _act_grad(name: str, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return grad * y * (1 - y)
    if name == "relu":
        return grad * (y > 0)
    return grad


class UnrolledNet:
    """Feed-forward pass and backprop over Dense layers; the last layer's activation is the loss's link."""

    def __init__(self, layers: list, params: dict):
        self.layers, self.params = layers, params

    def _weight(self, layer: Dense) -> np.ndarray:
        w = self.params[layer.weight]
        return w if layer.transposed else w.T          # as (in, out)

    def forward(self, x: np.ndarray, keep: bool = False):
        outs = [x]
        for index, layer in enumerate(self.layers):
            z = outs[-1] @ self._weight(layer)
            if layer.bias:
                z += self.params[layer.bias]
            last = index == len(self.layers) - 1
            outs.append(z if last else _act(layer.activation, z))
        return outs if keep else outs[-1]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs through the last layer's activation (softmax for classifiers is left to argmax)."""
        z = self.forward(x)
        return _act(self.layers[-1].activation, z.copy())

    def loss_and_grads(self, x: np.ndarray, target: np.ndarray, loss: str) -> tuple:
        outs = self.forward(x, keep=True)
        z, n = outs[-1], len(x)
        if loss == "cross_entropy":
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            value = -logp[np.arange(n), target].mean()
            grad = np.exp(logp)
            grad[np.arange(n), target] -= 1
        elif loss == "bce":            # on logits: the last layer's sigmoid is the link
            value = float(np.mean(np.logaddexp(0, z) - target * z)) * z.shape[1]
            grad = sigmoid(z.copy()) - target
        else:                          # mse through the last activation
            y = _act(self.layers[-1].activation, z.copy())
            value = float(np.mean((y - target) ** 2)) * z.shape[1]
            grad = _act_grad(self.layers[-1].activation, y, 2 * (y - target))
        grad = grad / n
        grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            if index < len(self.layers) - 1:
                grad = _act_grad(layer.activation, outs[index + 1], grad)
            inputs = outs[index]
            if layer.transposed:
                grads[layer.weight] += inputs.T @ grad
            else:
                grads[layer.weight] += grad.T @ inputs
            if layer.bias:
                grads[layer.bias] += grad.sum(axis=0)
            if index:
                grad = grad @ self._weight(layer).T
        return float(value), grads

    def fit(self, x, y, loss: str, epochs: int, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
            weight_decay: float = 0.0, log=None) -> UnrolledNet:
        """Adam on mini-batches."""
        rng = np.random.default_rng(seed)
        m = {k: np.zeros_like(v) for k, v in self.params.items()}
        s = {k: np.zeros_like(v) for k, v in self.params.items()}
        step, b1, b2 = 0, 0.9, 0.999
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            total = 0.0
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                value, grads = self.loss_and_grads(x[idx], y[idx], loss)
                total += value * len(idx)
                step += 1
                for key, grad in grads.items():
                    if weight_decay and key.endswith("weight"):
                        grad = grad + weight_decay * self.params[key]
                    m[key] = b1 * m[key] + (1 - b1) * grad
                    s[key] = b2 * s[key] + (1 - b2) * grad * grad
                    update = lr * (m[key] / (1 - b1 ** step)) / (np.sqrt(s[key] / (1 - b2 ** step)) + 1e-8)
                    self.params[key] -= update.astype(self.params[key].dtype, copy=False)
            if log is not None:
                log({"epoch": epoch + 1, "loss": total / len(x)})
        return self


def unit_activation(units: str) -> str:
    """The activation an rbm layer's units lower to when unrolled: their mean given the input."""
    return {"bernoulli": "sigmoid", "gaussian": "identity", "relu": "relu"}[units]


def classifier(rbms: list, head_weight: np.ndarray, head_bias: np.ndarray) -> UnrolledNet:
    """The DBN unrolled into a classifier: each RBM as a layer of unit means, then a linear head."""
    params, layers = {}, []
    for i, rbm in enumerate(rbms):
        params[f"rbm_{i}.weight"], params[f"rbm_{i}.bias"] = rbm.weight.copy(), rbm.bias.copy()
        layers.append(Dense(f"rbm_{i}.weight", f"rbm_{i}.bias", False, unit_activation(rbm.hidden_units)))
    params["head.weight"], params["head.bias"] = head_weight, head_bias
    layers.append(Dense("head.weight", "head.bias", False, "identity"))
    return UnrolledNet(layers, params)


def autoencoder(rbms: list) -> UnrolledNet:
    """Encoder = the RBMs bottom-up; decoder = their weights transposed top-down with the visible biases."""
    params, layers = {}, []
    for i, rbm in enumerate(rbms):
        params[f"enc_{i}.weight"], params[f"enc_{i}.bias"] = rbm.weight.copy(), rbm.bias.copy()
        layers.append(Dense(f"enc_{i}.weight", f"enc_{i}.bias", False, unit_activation(rbm.hidden_units)))
    for i in range(len(rbms) - 1, -1, -1):
        params[f"dec_{i}.bias"] = rbms[i].visible_bias.copy()
        layers.append(Dense(f"enc_{i}.weight", f"dec_{i}.bias", True, unit_activation(rbms[i].visible_units)))
    return UnrolledNet(layers, params)
