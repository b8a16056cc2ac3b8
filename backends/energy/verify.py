"""`netspec verify` for RBM stacks: free energy and CD-k gradients in NumPy and PyTorch on the same
weights, the same visible batch and the same random numbers (NumPy's noise is recorded and replayed)."""
from __future__ import annotations

import numpy as np

from netspec.config import read_pretrain

from .hook import layer_config, rbm_chain
from .rbm import RBM
from .units import Noise


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(a))))) if a.size else 0.0


def compare_rbms(graph, state: dict, batch: int = 8, seed: int = 0, dtype: str = "float32") -> dict:
    """Per rbm layer: the largest relative differences of free energy and CD gradients (torch vs numpy)."""
    import torch

    from backends.torch import energy_runtime as tr
    section = read_pretrain(graph.pretrain or {})
    rng = np.random.default_rng(seed)
    layers, worst = {}, 0.0
    v = None
    for node in rbm_chain(graph):
        key = node.module_path
        visible = int(node.in_shapes[0][0])
        rbm = RBM(visible, node.attrs["hidden"], node.attrs["visible_units"], node.attrs["hidden_units"], dtype)
        rbm.load({name: state[f"{key}.{name}"] for name in ("weight", "bias", "visible_bias")})
        if v is None:
            v = rng.random((batch, visible)).astype(dtype)
            if rbm.visible_units == "bernoulli":
                v = (v < 0.5).astype(dtype)
        cfg = layer_config(section, node)
        chain = v[::-1].copy() if cfg.is_persistent else None
        recorder = Noise(rng, record=True)
        dw, db, dc, _ = rbm.cd_gradient(v, cfg.k, recorder, chain)
        free = rbm.free_energy(v)
        params = [torch.from_numpy(np.ascontiguousarray(p)) for p in (rbm.weight, rbm.bias, rbm.visible_bias)]
        units = (rbm.visible_units, rbm.hidden_units)
        tdw, tdb, tdc, _ = tr.rbm_cd_gradient(*params, torch.from_numpy(v), cfg.k,
                                              noise=[torch.from_numpy(n) for n in recorder.drawn],
                                              chain=None if chain is None else torch.from_numpy(chain), units=units)
        tfree = tr.rbm_free_energy(*params, torch.from_numpy(v), *units)
        row = {"free_energy_max_rel": _rel(free, tfree.numpy()),
               "cd_grad_max_rel": max(_rel(dw, tdw.numpy()), _rel(db, tdb.numpy()), _rel(dc, tdc.numpy())),
               "method": f"{'pcd' if cfg.is_persistent else 'cd'}-{cfg.k}", "noise_arrays": len(recorder.drawn)}
        layers[node.name] = row
        worst = max(worst, row["free_energy_max_rel"], row["cd_grad_max_rel"])
        v = rbm.hidden_mean(v.copy())
    return {"layers": layers, "max_difference": worst}
