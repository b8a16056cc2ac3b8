"""Benchmark `netspec check`: start-up wall time on the big library nets, and scaling of shape inference.

1. Whole command, interpreter start included: `python -m netspec check SPEC` on ResNet-50 and
   GoogLeNet, against peers measured in the same run, interleaved round by round:
   the bare interpreter (`python -c pass`), the interpreter + YAML floor (`import yaml` and
   parse the same file with libyaml), and `import torch` alone (a lower bound for checking a
   model by building it in PyTorch). netspec's bytecode is compiled first, as `pip install` does.
2. Shape inference on generated specs of 1k, 5k, 10k and 20k layers (a chain of linear layers,
   and the same count through a repeated residual block), in-process: load + expand + build +
   infer, against a libyaml parse of the same file.

    python benchmarks/bench_check.py              # prints Markdown
    python benchmarks/bench_check.py --write      # also replaces the '## netspec check' section of RESULTS.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, "benchmarks", "RESULTS.md")
SIZES = (1_000, 5_000, 10_000, 20_000)


def wall(cmd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def compile_bytecode() -> None:
    """Write the .pyc files that a regular `pip install` writes, so that no timed run compiles netspec's
    source (an editable checkout under PYTHONDONTWRITEBYTECODE=1 would recompile it on every run)."""
    import compileall
    for package in ("netspec", "compiler"):
        compileall.compile_dir(os.path.join(ROOT, package), quiet=1)


def startup(rounds: int) -> dict:
    compile_bytecode()
    py = sys.executable
    commands = {"bare interpreter": [py, "-c", "pass"]}
    for spec in ("resnet50", "googlenet"):
        path = f"specs/{spec}.yaml"
        commands[f"yaml floor {spec}"] = [py, "-c", (f"import yaml; yaml.load(open({path!r}), Loader=getattr("
                                          "yaml, 'CSafeLoader', yaml.SafeLoader))")]
        commands[f"netspec check {spec}"] = [py, "-m", "netspec", "check", path]
    commands["import torch"] = [py, "-c", "import torch"]
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():   # interleaved so that load changes hit every contender alike
            times[name].append(wall(cmd))
    return times


def chain_spec(layers: int) -> str:
    lines = ["name: chain", "input: {shape: [64]}", "layers:"]
    lines += ["  - {type: linear, units: 64, activation: relu}"] * layers
    return "\n".join(lines) + "\n"


def block_spec(layers: int) -> str:
    """The same layer count through a residual block (4 layers per use) repeated with `repeat:`."""
    return f"""name: blocks
input: {{shape: [8, 8, 8]}}
blocks:
  res:
    params: {{filters: 8}}
    layers:
      - {{type: conv2d, filters: "${{filters}}", kernel: 3, padding: 1, bias: false}}
      - batchnorm
      - {{type: add, from: [input, -1]}}
      - relu
layers:
  - {{type: res, repeat: {layers // 4}}}
"""


def inference(size: int, text: str, rounds: int) -> tuple[float, float, int]:
    import yaml

    from netspec.api import analyse
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.yaml")
        with open(path, "w") as handle:
            handle.write(text)
        ours, peer, count = [], [], 0
        for _ in range(rounds):
            start = time.perf_counter()
            graph, diagnostics = analyse(path)
            ours.append(time.perf_counter() - start)
            assert not diagnostics, diagnostics[:3]
            count = len(graph.layers())
            start = time.perf_counter()
            with open(path) as handle:
                yaml.load(handle, Loader=loader)
            peer.append(time.perf_counter() - start)
    return min(ours), min(peer), count


def report(rounds: int) -> str:
    times = startup(rounds)
    out = ["## netspec check", "",
           (f"`python benchmarks/bench_check.py` ({rounds} interleaved rounds; Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, shared machine: read the ratios, the absolute times move with the load)."), "",
           "### Whole command, interpreter start-up included", "",
           "| command | min | median | ratio to the YAML floor (median) |", "| --- | ---: | ---: | ---: |"]
    floor = {spec: statistics.median(times[f"yaml floor {spec}"]) for spec in ("resnet50", "googlenet")}
    for name, values in times.items():
        spec = name.rsplit(" ", 1)[-1]
        ratio = f"{statistics.median(values) / floor[spec]:.2f}x" if spec in floor else "-"
        out.append(f"| `{name}` | {min(values) * 1000:.0f} ms | {statistics.median(values) * 1000:.0f} ms | {ratio} |")
    bare = statistics.median(times["bare interpreter"])
    for spec in ("resnet50", "googlenet"):
        ours = statistics.median(times[f"netspec check {spec}"])
        out.append("")
        out.append(f"- {spec}: netspec's own share (check minus bare interpreter) is {(ours - bare) * 1000:.0f} ms; "
                   f"beyond the YAML floor it adds {(ours - floor[spec]) * 1000:.0f} ms.")
    out += ["", "### Shape inference scaling (in-process: load + expand + build + infer)", "",
            "| spec | layers | netspec | per layer | libyaml parse of the same file | ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind, make in (("linear chain", chain_spec), ("repeated residual block", block_spec)):
        for size in SIZES:
            ours, peer, count = inference(size, make(size), 3 if size <= 10_000 else 2)
            out.append(f"| {kind} | {count:,} | {ours:.2f} s | {ours / count * 1e6:.0f} µs | {peer:.2f} s | "
                       f"{ours / peer:.1f}x |")
    return "\n".join(out) + "\n"


def write_section(section: str) -> None:
    text = "# Benchmark results\n\n"
    if os.path.exists(RESULTS):
        with open(RESULTS, encoding="utf-8") as handle:
            text = handle.read()
    start = text.find("## netspec check\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    tmp = RESULTS + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    section = report(args.rounds)
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
