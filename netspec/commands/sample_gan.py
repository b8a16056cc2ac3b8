"""`netspec sample` for a GAN spec (several networks): a grid of the trained generator's samples, and with
--npy the samples as an array in the data's shape and range."""
from __future__ import annotations

import os

from ..errors import UserError
from ..paths import check_output_file, default_run_dir


def run_gan(args, networks) -> int:
    import numpy as np

    from backends import checkpoint
    from backends.gan_files import sample_grid
    from backends.numpy import make_ops
    from backends.plot import png_bytes
    from backends.runtime.gan import gan_settings, generate

    from ..gan import is_gan
    if not is_gan(networks.train):
        raise UserError(f"{args.spec}: spec '{networks.name}' has several networks but no 'train: {{method: gan}}', "
                        "so no network is a generator to sample from", "add one (see specs/dcgan_digits.yaml)")
    if args.npy is not None:
        if not args.npy.lower().endswith(".npy"):
            from ..errors import UsageError
            raise UsageError(f"--npy {args.npy}: the samples are written as a NumPy array; use a name ending in .npy")
        check_output_file(args.npy)
    path = args.checkpoint or os.path.join(default_run_dir(networks.name), "checkpoint.npz")
    if not os.path.exists(path):
        raise UserError(f"no trained weights for '{networks.name}': {path} does not exist",
                        f"train first (netspec train {args.spec}), or pass --checkpoint FILE")
    state, _, meta = checkpoint.load(path)
    checkpoint.check_layout(networks, state, path)
    cfg, _ = gan_settings(networks)
    samples = generate(networks, state, args.count, args.seed, make_ops)
    image = sample_grid(samples, cfg.data.range, args.scale)
    data = png_bytes(image)
    checkpoint.atomic_write(args.out, lambda handle: handle.write(data))
    wrote = [f"{args.out} ({image.shape[1]}x{image.shape[0]} px)"]
    if args.npy is not None:
        array = np.clip(samples, *cfg.data.range).astype(np.float32)
        checkpoint.atomic_write(args.npy, lambda handle: np.save(handle, array))
        wrote.append(f"{args.npy} (shape {list(array.shape)}, range {list(cfg.data.range)})")
    print(f"wrote {' and '.join(wrote)}: {args.count} samples of '{cfg.generator}' (epoch {meta.get('epoch', '?')}, "
          f"seed {args.seed})")
    return 0
