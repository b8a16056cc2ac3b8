"""RBM pretraining in PyTorch for generated model files: greedy CD-k / PCD (DBN, autoencoder) and DBMs.

Inlined into model files by backends/torch/energy.py; depends on torch and numpy only. It follows the
NumPy implementation in backends/energy (same update rules, same settings), on the model's own RBM
modules, so the pretrained weights land in the model's state_dict under the checkpoint names.
"""
import numpy as np
import torch

from backends.energy.resume import PretrainProgress


def rbm_mean(kind, x):
    """E[unit | total input x] for bernoulli, gaussian or relu units."""
    if kind == "bernoulli":
        return torch.sigmoid(x)
    return torch.relu(x) if kind == "relu" else x


def rbm_sample(kind, x, mu, uniform=None, normal=None):
    """A sample of units with total input x and mean mu; noise from the given tensors or torch's RNG."""
    if kind == "bernoulli":
        u = torch.rand_like(mu) if uniform is None else uniform
        return (u < mu).to(mu.dtype)
    z = torch.randn_like(mu) if normal is None else normal
    if kind == "gaussian":
        return mu + z
    return torch.relu(x + torch.sqrt(torch.sigmoid(x)) * z)


def rbm_free_energy(weight, bias, visible_bias, v, visible_units="bernoulli", hidden_units="bernoulli"):
    """F(v) per sample (unit-variance gaussians, constants dropped), as backends.energy.RBM.free_energy."""
    x = v @ weight.T + bias
    if visible_units == "gaussian":
        visible = 0.5 * ((v - visible_bias) ** 2).sum(1)
    else:
        visible = -(v @ visible_bias)
    if hidden_units == "bernoulli":
        hidden = -torch.nn.functional.softplus(x).sum(1)
    elif hidden_units == "gaussian":
        hidden = -0.5 * (x * x).sum(1)
    else:
        steps = torch.arange(1, 25, dtype=x.dtype, device=x.device) - 0.5
        hidden = -torch.nn.functional.softplus(x[..., None] - steps).sum((1, 2))
    return visible + hidden


def rbm_cd_gradient(weight, bias, visible_bias, v0, k, noise=None, chain=None, units=("bernoulli", "bernoulli"),
                    up=1.0, down=1.0):
    """(dW, db, dc, last visible state) of CD-k (chain None) or PCD, as backends.energy.RBM.cd_gradient.

    noise: optional list of tensors consumed in the NumPy implementation's order (for `netspec verify`).
    """
    visible_units, hidden_units = units
    queue = list(noise) if noise is not None else None

    def draw(kind, mu, x):
        if queue is None:
            return rbm_sample(kind, x, mu)
        tensor = queue.pop(0)
        return rbm_sample(kind, x, mu, uniform=tensor, normal=tensor)

    def hidden(v):
        x = up * (v @ weight.T) + bias
        mu = rbm_mean(hidden_units, x)
        return mu, draw(hidden_units, mu, x)

    ph0, h = hidden(v0)
    if chain is not None:
        h = hidden(chain)[1]
    v = v0
    for step in range(k):
        x = down * (h @ weight) + visible_bias
        mu = rbm_mean(visible_units, x)
        sampled = draw(visible_units, mu, x)
        v = sampled if chain is not None else mu
        if step < k - 1:
            h = hidden(v)[1]
    phk = rbm_mean(hidden_units, up * (v @ weight.T) + bias)
    dw = ph0.T @ v0 / len(v0) - phk.T @ v / len(v)
    return dw, ph0.mean(0) - phk.mean(0), v0.mean(0) - v.mean(0), v


def _momentum(cfg, epoch):
    values = cfg["momentum"] if isinstance(cfg["momentum"], (list, tuple)) else [cfg["momentum"]]
    return float(values[0] if epoch < cfg["momentum_switch"] or len(values) == 1 else values[-1])


@torch.no_grad()
def rbm_monitors(module, data, units, held_out=None):
    """The NumPy engine's per-epoch monitors: reconstruction error, mean free energy, pseudo-likelihood
    (bernoulli visible units, one random bit flipped per sample) and the free-energy gap to held-out data."""
    params = (module.weight, module.bias, module.visible_bias)
    sample = data[:1024]
    recon = rbm_mean(units[0], rbm_mean(units[1], sample @ module.weight.T + module.bias) @ module.weight
                     + module.visible_bias)
    free = rbm_free_energy(*params, sample, *units)
    row = {"recon_error": float(((sample - recon) ** 2).mean()), "free_energy": float(free.mean())}
    if units[0] == "bernoulli":
        v = (sample > 0.5).to(sample.dtype)
        flipped = v.clone()
        gen = torch.Generator(device=v.device).manual_seed(0)
        index = torch.randint(0, v.shape[1], (len(v),), generator=gen, device=v.device)
        rows = torch.arange(len(v), device=v.device)
        flipped[rows, index] = 1 - flipped[rows, index]
        gap = (rbm_free_energy(*params, flipped, *units) - rbm_free_energy(*params, v, *units)).double()
        row["pseudo_likelihood"] = float((v.shape[1] * -torch.nn.functional.softplus(-gap)).mean())
    if held_out is not None and len(held_out):
        row["free_energy_gap"] = float(rbm_free_energy(*params, held_out[:len(sample)], *units).mean()) - \
            row["free_energy"]
    return row


@torch.no_grad()
def train_rbm(module, data, cfg, units, up=1.0, down=1.0, log=print, held_out=None, name=None, saved=None,
              after_epoch=None):
    """CD-k / PCD training of one RBM module (weight, bias, visible_bias) on `data` with cfg's settings.

    Returns one row of monitors per epoch ({'layer': name, 'epoch': ..., ...}, as pretrain.jsonl holds).
    saved: (epoch, tensors) to continue from, as `after_epoch(epoch, tensors)` was given them.
    """
    rows = []
    visible_units, _ = units
    params = (module.weight, module.bias, module.visible_bias)
    velocity = [torch.zeros_like(t) for t in params]
    chain, activity, first = None, None, 0
    if saved is None:
        p = data.mean(0)
        if visible_units == "bernoulli":
            p = p.clamp(1e-3, 1 - 1e-3)
            module.visible_bias.copy_(torch.log(p / (1 - p)))
        else:
            module.visible_bias.copy_(p)
        module.weight.normal_(0.0, cfg["init_scale"])
        module.bias.zero_()
    else:
        first, tensors = saved
        for i, vel in enumerate(velocity):
            vel.copy_(tensors[f"velocity.{i}"])
        chain, activity = tensors.get("chain"), tensors.get("activity")
    persistent = cfg["persistent"] or cfg["method"] == "pcd"
    batch = cfg["batch_size"]
    for epoch in range(first, cfg["epochs"]):
        momentum = _momentum(cfg, epoch)
        order = torch.randperm(len(data), device=data.device)
        for start in range(0, len(data), batch):
            v0 = data[order[start:start + batch]]
            if persistent and chain is None:
                chain = v0[torch.randint(0, len(v0), (cfg["chains"] or len(v0),), device=data.device)].clone()
            if persistent and not cfg["chains"] and len(v0) != len(chain):
                continue
            dw, db, dc, v = rbm_cd_gradient(*params, v0, cfg["k"], chain=chain if persistent else None, units=units,
                                            up=up, down=down)
            if persistent:
                chain = v
            dw -= cfg["weight_decay"] * module.weight
            if cfg["sparsity"] is not None and cfg["sparsity_cost"]:
                ph0 = rbm_mean(units[1], up * (v0 @ module.weight.T) + module.bias).mean(0)
                activity = ph0 if activity is None else 0.9 * activity + 0.1 * ph0
                penalty = cfg["sparsity_cost"] * (activity - cfg["sparsity"])
                db -= penalty
                dw -= torch.outer(penalty, v0.mean(0))
            for param, vel, grad in zip(params, velocity, (dw, db, dc)):
                vel.mul_(momentum).add_(grad, alpha=cfg["lr"])
                param.add_(vel)
        rows.append({"layer": name, "epoch": epoch + 1, **rbm_monitors(module, data, units, held_out)})
        log(f"pretrain {name} epoch {epoch + 1}/{cfg['epochs']} recon_error {rows[-1]['recon_error']:.4f}")
        if after_epoch is not None:
            tensors = {f"velocity.{i}": vel for i, vel in enumerate(velocity)}
            tensors.update({key: value for key, value in (("chain", chain), ("activity", activity))
                            if value is not None})
            after_epoch(epoch + 1, tensors, rows[-1])
    return rows


@torch.no_grad()
def train_dbm_jointly(modules, data, section, log=print, visible_units="bernoulli", saved=None, after_epoch=None):
    """Joint DBM training: mean-field positive phase, persistent Gibbs chains for the negative phase.

    Returns one row per epoch ({'layer': 'dbm', 'epoch', 'recon_error'}: the mean-field reconstruction).
    saved / after_epoch: as for train_rbm."""
    rows = []
    weights = [m.weight for m in modules]
    biases = [modules[0].visible_bias] + [m.bias for m in modules]
    layers = len(biases)

    def total_input(i, states):
        x = biases[i].expand(len(states[0]), -1).clone()
        if i > 0:
            x += states[i - 1] @ weights[i - 1].T
        if i + 1 < layers:
            x += states[i + 1] @ weights[i]
        return x

    def mean_field(v, steps):
        states = [v]
        for i in range(1, layers):
            factor = 2.0 if i + 1 < layers else 1.0
            states.append(torch.sigmoid(factor * (states[-1] @ weights[i - 1].T) + biases[i]))
        for _ in range(steps):
            for i in range(1, layers):
                states[i] = torch.sigmoid(total_input(i, states))
        return states

    count = section["chains"] or section["batch_size"]
    momentum = _momentum(section, 10 ** 9)
    vel_w = [torch.zeros_like(w) for w in weights]
    vel_b = [torch.zeros_like(b) for b in biases]
    first = 0
    if saved is None:
        chain = mean_field(data[torch.randint(0, len(data), (count,), device=data.device)], 1)
        chain = [c if i == 0 else torch.bernoulli(c) for i, c in enumerate(chain)]
    else:
        first, tensors = saved
        chain = [tensors[f"chain.{i}"] for i in range(layers)]
        for i, vel in enumerate(vel_w + vel_b):
            vel.copy_(tensors[f"velocity.{i}"])
    for epoch in range(first, section["joint_epochs"]):
        order = torch.randperm(len(data), device=data.device)
        for start in range(0, len(data), section["batch_size"]):
            batch = data[order[start:start + section["batch_size"]]]
            pos = mean_field(batch, section["mean_field_steps"])
            for parity in (1, 0):
                for i in range(parity, layers, 2):
                    chain[i] = torch.bernoulli(torch.sigmoid(total_input(i, chain)))
            for i, w in enumerate(weights):
                grad = pos[i + 1].T @ pos[i] / len(batch) - chain[i + 1].T @ chain[i] / count
                vel_w[i].mul_(momentum).add_(grad - section["weight_decay"] * w, alpha=section["joint_lr"])
                w.add_(vel_w[i])
            for i, b in enumerate(biases):
                vel_b[i].mul_(momentum).add_(pos[i].mean(0) - chain[i].mean(0), alpha=section["joint_lr"])
                b.add_(vel_b[i])
        sample = data[:1024]
        states = mean_field(sample, section["mean_field_steps"])
        recon = total_input(0, states)
        recon = recon if visible_units == "gaussian" else torch.sigmoid(recon)
        rows.append({"layer": "dbm", "epoch": epoch + 1, "recon_error": float(((sample - recon) ** 2).mean())})
        log(f"dbm joint epoch {epoch + 1}/{section['joint_epochs']} recon_error {rows[-1]['recon_error']:.4f}")
        if after_epoch is not None:
            tensors = {f"chain.{i}": c for i, c in enumerate(chain)}
            tensors.update({f"velocity.{i}": vel for i, vel in enumerate(vel_w + vel_b)})
            after_epoch(epoch + 1, tensors, rows[-1])
    for index in range(1, len(modules)):
        modules[index].visible_bias.copy_(modules[index - 1].bias)
    return rows


def pretrain_stack(model, x_train, section, layers, tied, log=print, held_out=None, progress=None):
    """Pretrain the model's RBM modules bottom-up; `layers`: [(module path, units, per-layer cfg)].

    progress: a PretrainProgress (backends/energy/resume.py) to continue from and to save to after every
    epoch of every stage; its saved arrays are the model's weights ('model.*') and the stage's velocities
    and chains ('stage.*'), its RNG states torch's. Returns the monitor rows of every epoch (pretrain.jsonl).
    """
    progress = progress or PretrainProgress(None, {}, False)
    modules = [model.get_submodule(path) for path, _, _ in layers]
    data = x_train.reshape(len(x_train), -1)
    held = None if held_out is None or not len(held_out) else held_out.reshape(len(held_out), -1)
    dbm = section["method"] == "dbm"

    def resumed(stage):
        """(epoch, stage tensors) saved for `stage`, with the model's weights and torch's RNG put back; or None."""
        saved = progress.resumed(stage)
        if saved is None:
            return None
        arrays = saved["arrays"]
        model.load_state_dict({k[len("model."):]: torch.as_tensor(v) for k, v in arrays.items()
                               if k.startswith("model.")})
        torch.set_rng_state(torch.tensor(saved["rng"], dtype=torch.uint8))
        return saved["epoch"], {k[len("stage."):]: torch.as_tensor(v, device=x_train.device)
                                for k, v in arrays.items() if k.startswith("stage.")}

    def save_epoch(stage, epoch, tensors, row):
        progress.rows.append(row)
        arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        arrays.update({f"stage.{k}": v.detach().cpu().numpy() for k, v in tensors.items()})
        progress.save(stage, epoch, torch.get_rng_state().tolist(), arrays)

    for index, (module, (path, units, cfg)) in enumerate(zip(modules, layers)):
        up = 2.0 if dbm and len(layers) > 1 and index == 0 else 1.0
        down = 2.0 if dbm and len(layers) > 1 and index == len(layers) - 1 else 1.0
        if index < len(progress.finished):             # done before the interruption: as it left it
            params, rng_state = progress.finished[index]
            with torch.no_grad():
                for key, value in params.items():
                    getattr(module, key).copy_(torch.as_tensor(value))
            torch.set_rng_state(torch.tensor(rng_state, dtype=torch.uint8))
        else:
            torch.manual_seed(cfg["seed"] + 1000 * index)
            log(f"pretraining {path} ({module.weight.shape[1]} -> {module.weight.shape[0]}, "
                f"{cfg['method']}-{cfg['k']})")
            train_rbm(module, data, cfg, units, up, down, log, None if dbm else held, cfg.get("name", path),
                      resumed(index), lambda epoch, tensors, row, i=index: save_epoch(i, epoch, tensors, row))
            progress.finish_layer({key: getattr(module, key).detach().cpu().numpy()
                                   for key in ("weight", "bias", "visible_bias")}, torch.get_rng_state().tolist())
            progress.write()
        with torch.no_grad():
            x = up * (data @ module.weight.T) + module.bias
            mean = rbm_mean(units[1], x)
            data = rbm_sample(units[1], x, mean) if cfg["propagate"] == "sample" else mean
            if held is not None:
                held = rbm_mean(units[1], held @ module.weight.T + module.bias)
    if dbm:
        with torch.no_grad():
            for module in modules[1:-1]:
                module.weight.mul_(0.5)
        if section["joint_epochs"]:                     # resumed("dbm") puts back the weights it saved
            train_dbm_jointly(modules, x_train.reshape(len(x_train), -1), section, log, layers[0][1][0],
                              resumed("dbm"), lambda epoch, tensors, row: save_epoch("dbm", epoch, tensors, row))
    with torch.no_grad():
        for decoder, encoder in tied:
            model.get_submodule(decoder).bias.copy_(model.get_submodule(encoder).visible_bias)
    return progress.rows


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
