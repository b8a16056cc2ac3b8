"""The trained specs/dcgan_digits.yaml makes digits that a classifier trained by netspec recognises (slow).

The classifier is specs/digits_cnn.yaml, trained here by netspec. A "digits FID" (backends/runtime/fid.py: the
Fréchet distance of the classifier's penultimate-layer features) compares 500 generated samples, 500 uniform
noise images and a second set of real digits (the training split) with the real test images.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT, SPECS

pytestmark = pytest.mark.slow


def _netspec(*args):
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "netspec", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def measure(gan_spec: str, gan_checkpoint: str, classifier_checkpoint: str, npy: str, count: int = 500) -> dict:
    """The figures of a trained generator: share of confident samples, classes among them, and FIDs."""
    from backends.numpy import make_ops
    from backends.runtime.fid import FeatureClassifier
    from backends.runtime.trainer import load_model
    from netspec import load_graph
    from netspec.data import load_dataset

    _netspec("sample", gan_spec, "--checkpoint", gan_checkpoint, "-o", npy[:-4] + ".png", "--count", str(count),
             "--npy", npy, "--seed", "1")
    samples = np.load(npy)
    assert samples.shape == (count, 1, 8, 8) and samples.min() >= -1 and samples.max() <= 1
    graph = load_graph(os.path.join(SPECS, "digits_cnn.yaml"))
    classifier = FeatureClassifier(load_model(graph, classifier_checkpoint, make_ops))
    images = (samples + 1) / 2                          # the GAN's range [-1, 1] -> the classifier's [0, 1]
    probabilities = classifier.probabilities(images)
    confident = probabilities.max(-1) >= 0.9
    real = load_dataset({"name": "digits"}, (1, 8, 8), seed=0)          # the classifier's own split
    noise = np.random.default_rng(0).uniform(0, 1, images.shape)
    return {"confident": float(confident.mean()),
            "classes": len(set(probabilities.argmax(-1)[confident].tolist())),
            "fid_generator": classifier.fid(images, real.x_test), "fid_noise": classifier.fid(noise, real.x_test),
            "fid_real": classifier.fid(real.x_train[:count], real.x_test)}


def test_dcgan_digits_samples_are_recognisable_digits(tmp_path):
    began = time.perf_counter()
    classifier = json.loads(_netspec("train", os.path.join(SPECS, "digits_cnn.yaml"), "-o", str(tmp_path / "cnn"),
                                     "--json").strip().splitlines()[-1])
    assert classifier["test_accuracy"] >= 0.97
    spec = os.path.join(SPECS, "dcgan_digits.yaml")
    gan = json.loads(_netspec("train", spec, "-o", str(tmp_path / "gan"), "--json").strip().splitlines()[-1])
    figures = measure(spec, gan["checkpoint"], classifier["checkpoint"], str(tmp_path / "samples.npy"))
    figures["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(figures))
    assert figures["confident"] >= 0.70, figures
    assert figures["classes"] >= 9, figures
    assert figures["fid_generator"] < 0.25 * figures["fid_noise"], figures
    assert figures["fid_real"] < figures["fid_generator"], figures
