"""The project's own code passes ruff (the same linter the generated PyTorch files are held to)."""
import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed (pip install -e '.[dev]')")
def test_ruff_check_passes_on_the_repository():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], check=False, cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-4000:]
