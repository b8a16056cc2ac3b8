"""A deterministic mutation fuzzer for specs: no input may reach an internal error, hang, or pass `check`
and then fail in summary, draw or compile.

Mutants come from the spec library at three levels: the YAML text (cut, insert a token, move a line),
the structure (delete, copy, wrap or add a key) and the values (zero, huge, null, inf, hostile
expressions, another layer type). Each runs through `analyse`, the function `netspec check` uses;
an accepted one then goes through summary (table and JSON), the DOT diagram and torch code
generation (compiled, not imported); with --deep also one NumPy forward and backward pass.

    python -m netspec.fuzz --mutants 20000 --seed 1          # figures; exit 1 on any failure
    python -m netspec.fuzz --mutants 2000 --deep --save-failures fuzz-failures/
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import random
import signal
import sys
import tempfile
import time
import traceback

import yaml

from .api import analyse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_SEED_BYTES = 4096
FAILURES = ("internal", "hung", "late")   # internal error in check, no answer in time, accepted then failed

TOKENS = ["[", "]", "{", "}", ":", ": ", "- ", ",", "&a ", "*a", "!!int ", "!!float ", "!!bool ", "!!null ", "!!str ",
          "!!python/object/apply:os.system ", "!!binary ", "\t", "\x07", "\x1b", "\ufeff", "'", '"', "#", "${", "}",
          "<<: *a", "---\n", "...\n", "~", "null", "\n", "    ", "0x", "1e400", "99999999999999999999", "-",
          "&a [1, *a]", "? ", "|\n", ">\n", "%YAML 1.1\n", "\\", "é", "\U0001F600"]
HOSTILE = [0, -1, 1, 2, 3, 7, 2 ** 31, 2 ** 63, 99999999999999999999, 10 ** 400, 1e-300, 1e300, float("inf"),
           float("-inf"), float("nan"), -0.0, 0.5, 1.0, True, False, None, "", "x", "same", "valid", "input", "-1",
           "T", [], [1], [0, 0], [1, 2, 3], {}, {"type": "relu"}, "${w}", "${1/0}", "${int(1e999)}",
           "${round(5, -100000000)}", "${2 ** 64}", "${1e300 ** 2}", "${x}${x}${x}", "${round(x)}", "${", "$${}}",
           "a" * 300, "../../x", "/abs/x", "a b", "x\x07y", "${min()}", "${-(-(-1))}", "relu6", "bernoulli", "gaussian",
           "cross_entropy", "mse", "bce", "dbm", "cd", "pcd", "autoencoder"]
KEYS = ["type", "name", "from", "repeat", "units", "filters", "kernel", "stride", "padding", "dilation", "groups",
        "hidden", "layers", "bidirectional", "return_sequences", "axis", "p", "shape", "dtype", "output", "outputs",
        "params", "vars", "blocks", "activation", "bias", "vocab", "dim", "inputs", "input", "pretrain", "train",
        "method", "k", "epochs", "batch_size", "lr", "visible_units", "hidden_units", "slope", "size", "alpha"]


class _Timeout(BaseException):
    """Raised by the alarm when one case runs past its time (a BaseException: no `except Exception` eats it)."""


def seed_texts(paths=None) -> list:
    """(name, text) of the seed specs: the library's specs up to MAX_SEED_BYTES."""
    out = []
    for path in sorted(paths or glob.glob(os.path.join(ROOT, "specs", "*.yaml"))):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if len(text.encode()) <= MAX_SEED_BYTES:
            out.append((os.path.basename(path), text))
    return out


# ---- mutations ----------------------------------------------------------------------------------------
def mutate_text(rng: random.Random, text: str) -> str:
    """A YAML-level mutant: a cut, an inserted token, or a moved, doubled or re-indented line."""
    lines = text.split("\n")
    choice = rng.randrange(7)
    at = rng.randrange(len(text) + 1)
    if choice == 0:
        return text[:at] + text[at + rng.randint(1, 20):]
    if choice == 1:
        return text[:at] + rng.choice(TOKENS) + text[at:]
    if choice == 2:
        return text[:at]
    index = rng.randrange(len(lines))
    if choice == 3:
        lines.insert(index, lines[rng.randrange(len(lines))])
    elif choice == 4:
        del lines[index]
    elif choice == 5:
        other = rng.randrange(len(lines))
        lines[index], lines[other] = lines[other], lines[index]
    else:
        lines[index] = (" " * rng.choice((1, 2, 4)) + lines[index]) if rng.random() < 0.5 else lines[index][2:]
    return "\n".join(lines)


def _nodes(tree, path=()):
    """Every (path, value) in a parsed document."""
    yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _nodes(value, (*path, index))


def _set(tree, path, value):
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value


def _delete(tree, path):
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]


def hostile_value(rng: random.Random, old, type_names):
    """A value to put where `old` stood: a hostile constant, a nearby number or another layer type."""
    roll = rng.random()
    if isinstance(old, str) and roll < 0.3:
        return rng.choice(type_names)
    if isinstance(old, (int, float)) and not isinstance(old, bool) and roll < 0.5:
        return rng.choice([old * 10, old + 1, -old, old // 2 if isinstance(old, int) else old / 3, old * 10 ** 12])
    return copy.deepcopy(rng.choice(HOSTILE))


def mutate_tree(rng: random.Random, tree, level: str, type_names):
    """A structure- or value-level mutant of a parsed document (changed in place and returned)."""
    nodes = list(_nodes(tree))[1:]
    if not nodes:
        return tree
    path, value = rng.choice(nodes)
    if level == "value":
        leaves = [(p, v) for p, v in nodes if not isinstance(v, (dict, list))] or nodes
        path, value = rng.choice(leaves)
        _set(tree, path, hostile_value(rng, value, type_names))
        return tree
    choice = rng.randrange(6)
    if choice == 0:
        _delete(tree, path)
    elif choice == 1:
        _set(tree, path, copy.deepcopy(rng.choice(nodes)[1]))
    elif choice == 2:
        _set(tree, path, [value] if rng.random() < 0.5 else {"type": value} if isinstance(value, str) else None)
    elif choice == 3:
        containers = [(p, v) for p, v in nodes if isinstance(v, list) and v]
        if containers:
            path, items = rng.choice(containers)
            items.insert(rng.randrange(len(items) + 1), copy.deepcopy(rng.choice(items)))
    else:
        maps = [(p, v) for p, v in nodes if isinstance(v, dict)] or [((), tree)] if isinstance(tree, dict) else []
        if maps:
            _, target = rng.choice(maps)
            key = rng.choice(KEYS)
            target[key] = copy.deepcopy(rng.choice(HOSTILE + [rng.choice(type_names), rng.randint(-3, 300)]))
    return tree


def mutants(rng: random.Random, seeds: list, count: int):
    """`count` (level, seed name, text) mutants, one to three mutations each."""
    from compiler import registry
    type_names = registry.all_type_names()
    parsed = {name: yaml.safe_load(text) for name, text in seeds}
    for _ in range(count):
        name, text = rng.choice(seeds)
        level = rng.choice(("yaml", "structure", "value"))
        steps = rng.choice((1, 1, 2, 3))
        if level == "yaml":
            for _ in range(steps):
                text = mutate_text(rng, text)
        else:
            tree = copy.deepcopy(parsed[name])
            for _ in range(steps):
                tree = mutate_tree(rng, tree, level, type_names)
            try:
                text = yaml.safe_dump(tree, sort_keys=False, default_flow_style=None, width=120)
            except (yaml.YAMLError, ValueError, OverflowError):
                continue
        yield level, name, text


# ---- running one case ---------------------------------------------------------------------------------
def downstream(graph, deep: bool) -> None:
    """What users do with an accepted spec: summary, the DOT diagram, torch source (and with deep, a step)."""
    import json

    from backends.torch import generate
    from compiler import diagram
    from compiler.analysis import summary_json, summary_table
    if hasattr(graph, "graphs"):                # several networks: each alone, then all of them together
        from compiler.networks import networks_summary_json, networks_summary_table, networks_view

        from .networks import training_wiring
        json.dumps(networks_summary_json(graph.name, graph.description, graph.graphs))
        networks_summary_table(graph.name, graph.graphs)
        diagram.to_dot(networks_view(graph.name, graph.graphs, training_wiring(graph)))
        compile(generate(graph), "model.py", "exec")     # the GAN file (or one module per network)
        for one in graph.graphs.values():
            downstream(one, deep)
        return
    json.dumps(summary_json(graph))
    summary_table(graph)
    for options in (diagram.DrawOptions(), diagram.DrawOptions(collapse=True, depth=0)):
        diagram.to_dot(diagram.build_view(graph, options))
    compile(generate(graph, format_code=False), "model.py", "exec")
    if deep and graph.total_params <= 2_000_000:
        from backends.verify import verify
        verify(graph, batch=1, only=["numpy"])


def run_case(path: str, deep: bool = False, timeout: float = 10.0) -> tuple:
    """(outcome, detail) of one spec file: 'error' (clean, located or not), 'accepted', or a failure."""
    def alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    stage = "check"
    try:
        graph, diagnostics = analyse(path)
        if diagnostics:
            unlocated = [str(d) for d in diagnostics if d.pos is None or d.pos.line <= 0]
            return ("error", unlocated)
        stage = "summary/draw/compile" + ("/step" if deep else "")
        downstream(graph, deep)
        return ("accepted", None)
    except _Timeout:
        return ("hung", f"no answer in {timeout:g} s during {stage}")
    except Exception:   # noqa: BLE001 - the fuzzer's whole point is to catch whatever escapes
        kind = "internal" if stage == "check" else "late"
        return (kind, f"{stage}: " + "".join(traceback.format_exc(limit=-3).splitlines(keepends=True)[-6:]))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _warm_up(seeds: list, path: str, deep: bool) -> None:
    """Import what the downstream stages import (torch among them) before any case runs under its alarm:
    an alarm that lands inside a C extension's import leaves it half made."""
    for _, text in seeds:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        graph, diagnostics = analyse(path)
        if not diagnostics:
            downstream(graph, deep)
            return


def fuzz(count: int, seed: int = 0, deep: bool = False, timeout: float = 10.0, seeds: list | None = None,
         save: str | None = None) -> dict:
    """Run `count` mutants; the figures and every failure (level, seed spec, outcome, detail, text)."""
    rng = random.Random(seed)
    seeds = seeds or seed_texts()
    figures = {"mutants": 0, "error": 0, "unlocated": 0, "accepted": 0, **{k: 0 for k in FAILURES}}
    failures = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mutant.yaml")
        _warm_up(seeds, path, deep)
        for level, name, text in mutants(rng, seeds, count):
            with open(path, "w", encoding="utf-8", errors="surrogatepass") as handle:
                handle.write(text)
            outcome, detail = run_case(path, deep, timeout)
            figures["mutants"] += 1
            figures[outcome] += 1
            if outcome == "error" and detail:
                figures["unlocated"] += 1
            if outcome in FAILURES:
                failures.append({"level": level, "seed": name, "outcome": outcome, "detail": detail, "text": text})
                if save:
                    os.makedirs(save, exist_ok=True)
                    with open(os.path.join(save, f"{outcome}-{len(failures):04d}.yaml"), "w",
                              encoding="utf-8", errors="surrogatepass") as handle:
                        handle.write(text)
    figures["seconds"] = round(time.perf_counter() - start, 1)
    return {"figures": figures, "failures": failures}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netspec.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=2000, help="how many mutants (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one case may take (default 10)")
    parser.add_argument("--deep", action="store_true", help="also run one NumPy forward/backward step")
    parser.add_argument("--save-failures", metavar="DIR", help="write each failing mutant to DIR")
    args = parser.parse_args(argv)
    if args.mutants < 1 or args.timeout <= 0:
        parser.error("--mutants and --timeout must be positive")
    report = fuzz(args.mutants, args.seed, args.deep, args.timeout, save=args.save_failures)
    for failure in report["failures"][:20]:
        print(f"--- {failure['outcome']} ({failure['level']} mutant of {failure['seed']}): {failure['detail']}",
              file=sys.stderr)
    figures = report["figures"]
    print(" ".join(f"{key} {value}" for key, value in figures.items()))
    return 1 if any(figures[k] for k in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
