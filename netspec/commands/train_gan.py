"""`netspec train` for a spec with several networks: a GAN (train: {method: gan}) on any backend."""
from __future__ import annotations

import json

from ..errors import UserError
from ..paths import default_run_dir


def run_gan(args, networks, backend) -> int:
    from backends.base import TrainOptions
    from backends.loop import done_line

    from ..gan import is_gan
    from .train import resume_command_line
    if not is_gan(networks.train):
        raise UserError(f"{args.spec}: spec '{networks.name}' has several networks but no 'train: {{method: gan}}' "
                        "section, so there is nothing to train", "add one (see specs/dcgan_digits.yaml)")
    data = {"path": args.data} if args.data else {}
    options = TrainOptions(out_dir=args.run_dir or default_run_dir(networks.name), resume=args.resume,
                           epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, dtype=args.dtype,
                           data=data, progress=not args.quiet and not args.json, max_steps=args.max_steps,
                           overwrite=args.overwrite, resume_command=resume_command_line(getattr(args, "argv", None)))
    if not hasattr(backend, "train_gan"):
        raise UserError(f"backend '{args.backend}' cannot train a GAN", "use --backend numpy or torch")
    result = backend.train_gan(networks, options)
    print(json.dumps(result) if args.json else done_line(result))
    return 0
