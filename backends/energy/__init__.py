"""Energy-based models in NumPy: RBMs (CD-k, PCD), DBNs, DBMs and deep autoencoders.

`pretrain(graph, dataset, state, options, log)` is the hook every trainer calls before supervised
fine-tuning when a spec has rbm layers and a `pretrain:` section.
"""
from .hook import gibbs_samples, pretrain, rbm_chain
from .rbm import RBM, RBMConfig, RBMTrainer
from .stack import DBM, LayerPlan, dbn_sample, train_dbn

__all__ = ["DBM", "RBM", "LayerPlan", "RBMConfig", "RBMTrainer", "dbn_sample", "gibbs_samples", "pretrain", "rbm_chain",
           "train_dbn"]
