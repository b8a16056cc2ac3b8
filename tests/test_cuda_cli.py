"""Numba-CUDA without a GPU or simulator, and a static float32 check of the kernels' source (no device needed)."""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = os.path.join(ROOT, "backends", "numba_cuda", "kernels")


def test_no_gpu_no_simulator_fails_with_one_clear_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    probe = subprocess.run([sys.executable, "-c", "from numba import cuda; print(cuda.is_available())"],
                           env=env, capture_output=True, text=True, check=False)
    if probe.stdout.strip() == "True":
        pytest.skip("a CUDA GPU is present here")
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: {shape: [4]}\nlayers:\n  - {type: linear, units: 2}\n"
                    "train: {data: {name: synthetic, samples: 8}}\n")
    proc = subprocess.run([sys.executable, "-m", "netspec", "train", str(spec), "--backend", "numba-cuda", "-o",
                           str(tmp_path / "run")], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "NUMBA_ENABLE_CUDASIM=1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _kernel_functions():
    for name in sorted(os.listdir(KERNELS)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(KERNELS, name)) as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any("cuda.jit" in ast.unparse(d) for d in node.decorator_list):
                yield name, node


def test_kernels_have_no_float64_literals_or_types():
    """Bare float literals promote float32 arithmetic to float64 on a GPU (the simulator would not notice)."""
    found, bad = 0, []
    for filename, func in _kernel_functions():
        found += 1
        wrapped = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("float32", "np.float32"):
                wrapped.update(id(arg) for arg in ast.walk(node))
        for node in ast.walk(func):
            if isinstance(node, ast.Constant) and isinstance(node.value, float) and id(node) not in wrapped:
                bad.append(f"{filename}:{node.lineno} {func.name}: float literal {node.value!r}")
            if isinstance(node, ast.Attribute | ast.Name) and ast.unparse(node) in ("float64", "np.float64", "float"):
                bad.append(f"{filename}:{node.lineno} {func.name}: {ast.unparse(node)}")
    assert found >= 30, found
    assert not bad, "\n".join(bad)
