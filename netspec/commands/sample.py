"""`netspec sample SPEC --checkpoint FILE -o grid.png`: Gibbs samples from a trained RBM, DBN or DBM."""
import os
import sys

from ..api import load_graph
from ..argtypes import non_negative_int, positive_int, random_seed
from ..errors import UsageError, UserError
from ..paths import check_output_file, default_run_dir

HELP = "draw samples from a trained GAN generator or RBM/DBN/DBM and save them as an image grid (PNG)"
EPILOG = """examples:
  netspec sample specs/rbm_digits.yaml -o samples.png       # reads runs/rbm_digits/pretrained.npz
  netspec sample specs/dbn_digits.yaml -o dbn.png --count 100 --steps 2000
  netspec sample specs/rbm_digits.yaml --checkpoint runs/x/pretrained.npz -o samples.png
  netspec sample specs/dcgan_digits.yaml -o grid.png --count 100 --npy samples.npy --seed 1   # a GAN's generator

A spec with a supervised train: section ends with checkpoint.npz holding the fine-tuned weights, which
no longer model the data; the run's pretrained.npz is the generative model before fine-tuning.
"""


def add_arguments(parser) -> None:
    from ..cli import add_spec_argument
    add_spec_argument(parser)
    parser.add_argument("--checkpoint", metavar="FILE", help="trained weights (default: runs/<spec name>/pretrained.npz, the generative "
                        "model before fine-tuning, else checkpoint.npz; a GAN: checkpoint.npz)")
    parser.add_argument("-o", "--out", metavar="FILE", default="samples.png", help="output image (.png)")
    parser.add_argument("--count", type=positive_int, default=64, metavar="N", help="number of samples (default 64)")
    parser.add_argument("--steps", type=non_negative_int, default=1000, metavar="N",
                        help="Gibbs steps per chain (default 1000)")
    parser.add_argument("--seed", type=random_seed, default=0, metavar="N",
                        help="seed of the chains' random start and Gibbs noise (default 0); the same seed gives "
                        "the same samples")
    parser.add_argument("--npy", metavar="FILE", help="GANs: also write the samples as an array in the data's "
                        "shape and range (.npy)")
    parser.add_argument("--scale", type=positive_int, default=None, metavar="N",
                        help="pixels per unit (default: tiles of ~32 px)")


def run(args) -> int:
    import numpy as np

    from backends import checkpoint
    from backends.energy import gibbs_samples, rbm_chain
    from backends.gan_files import grid_image, image_shape
    from backends.plot import png_bytes

    if not args.out.lower().endswith(".png"):
        raise UsageError(f"-o {args.out}: sample grids are written as PNG; use an output name ending in .png")
    check_output_file(args.out)
    graph = load_graph(args.spec, args.overrides)
    if hasattr(graph, "graphs"):                # several networks: the GAN's generator
        from .sample_gan import run_gan
        return run_gan(args, graph)
    if args.npy is not None:
        raise UsageError("--npy goes with a GAN spec (several networks); Gibbs samples are written as a grid")
    if not rbm_chain(graph):
        raise UserError(f"{args.spec}: spec '{graph.name}' has no rbm layers to sample from",
                        "sample from an RBM, DBN or DBM spec (see specs/dbn_digits.yaml)")
    path = args.checkpoint
    if path is None:
        run_dir = default_run_dir(graph.name)
        pretrained = os.path.join(run_dir, "pretrained.npz")
        path = pretrained if os.path.exists(pretrained) else os.path.join(run_dir, "checkpoint.npz")
        if not os.path.exists(path):
            raise UserError(f"no trained weights for '{graph.name}': neither {pretrained} nor {path} exists",
                            f"train first (netspec train {args.spec}), or pass --checkpoint FILE")
    state, _, meta = checkpoint.load(path)
    checkpoint.check_layout(graph, state, path)
    pretrained = os.path.join(os.path.dirname(path), "pretrained.npz")
    if meta.get("phase") != "pretrained" and os.path.exists(pretrained):
        print(f"note: {path} holds the weights after supervised fine-tuning, which no longer model the data; "
              f"the generative model before fine-tuning is {pretrained} (--checkpoint {pretrained}, or leave "
              f"--checkpoint out to read runs/<spec name>/pretrained.npz)", file=sys.stderr)
    samples = gibbs_samples(graph, state, args.count, args.steps, np.random.default_rng(args.seed))
    shape = image_shape(graph[graph.inputs[0]].shape)
    scale = args.scale or max(1, 32 // max(shape))
    image = grid_image(samples, shape, scale)
    data = png_bytes(image)
    checkpoint.atomic_write(args.out, lambda handle: handle.write(data))
    print(f"wrote {args.out}: {args.count} samples after {args.steps} Gibbs steps "
          f"({image.shape[1]}x{image.shape[0]} px)")
    return 0
