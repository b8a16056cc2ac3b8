"""Benchmark `netspec check` on a 100k-layer spec: time and peak memory of the whole command.

Two specs of 100,000 layers each: a block of ten layers used with `repeat: 10000`, and ten layer
entries with `repeat: 10000` each. Every round runs `python -m netspec check` once per spec and tree,
interleaved, and reads the child's CPU time and peak resident memory from wait4. `--baseline DIR`
adds another checkout (e.g. the main branch) as the peer measured in the same run.

    python benchmarks/bench_check_big.py --baseline /work/main            # prints Markdown
    python benchmarks/bench_check_big.py --baseline /work/main --write    # also updates RESULTS.md
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
RESULTS = os.path.join(ROOT, "benchmarks", "RESULTS.md")
SECTION = "## netspec check on a 100k-layer spec"

BLOCK_SPEC = """name: repeat100k
input: {shape: [16]}
blocks:
  ten:
    params: {width: 16}
    layers:
""" + '      - {type: linear, units: "${width}"}\n      - relu\n' * 5 + """layers:
  - {type: ten, repeat: 10000}
"""
FLAT_SPEC = "name: flat100k\ninput: {shape: [16]}\nlayers:\n" + "".join(
    f"  - {{type: linear, units: 16, repeat: 10000, name: l{i}}}\n" for i in range(10))


def run_once(tree: str, path: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one `netspec check` run from `tree`."""
    env = dict(os.environ, PYTHONPATH=tree)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "netspec", "check", "-q", path], cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: check failed: {error[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def report(trees: dict, rounds: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        specs = {}
        for name, text in (("block of 10 x repeat 10000", BLOCK_SPEC), ("10 entries x repeat 10000", FLAT_SPEC)):
            specs[name] = os.path.join(tmp, name.split()[0] + ".yaml")
            with open(specs[name], "w", encoding="utf-8") as handle:
                handle.write(text)
        results = {(tree, spec): [] for tree in trees for spec in specs}
        loads = [os.getloadavg()[0]]
        for _ in range(rounds):
            for spec, path in specs.items():
                for tree, where in trees.items():   # interleaved: load changes hit every contender alike
                    results[tree, spec].append(run_once(where, path))
            loads.append(os.getloadavg()[0])
    out = [SECTION, "",
           (f"`python benchmarks/bench_check_big.py` ({rounds} interleaved rounds; Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, shared machine, 1-minute load average {min(loads):.1f} to {max(loads):.1f} "
            "during the run: wall time moves with the load; CPU time, user + system, much less)."), "",
           "| spec | tree | CPU min | CPU median | wall median | peak memory |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
    for spec in specs:
        for tree in trees:
            walls, cpus, peaks = zip(*results[tree, spec])
            out.append(f"| {spec} | {tree} | {min(cpus):.2f} s | {statistics.median(cpus):.2f} s | "
                       f"{statistics.median(walls):.2f} s | {max(peaks):.0f} MiB |")
    if len(trees) == 2:
        ours, peer = list(trees)
        for spec in specs:
            ratio = (statistics.median(c for _, c, _ in results[peer, spec]) /
                     statistics.median(c for _, c, _ in results[ours, spec]))
            out.append(f"\n- {spec}: {ours} takes {1 / ratio:.2f}x the CPU time of {peer} ({ratio:.1f}x as fast).")
    return "\n".join(out) + "\n"


def write_section(section: str) -> None:
    with open(RESULTS, encoding="utf-8") as handle:
        text = handle.read()
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    with open(RESULTS + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(RESULTS + ".tmp", RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to measure in the same run")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.baseline:
        trees["baseline"] = os.path.abspath(args.baseline)
    section = report(trees, args.rounds)
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
