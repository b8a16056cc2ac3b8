"""The `train.loss` setting: one loss, or one per output with weights.

    loss: cross_entropy                                    # every (the one) output
    loss: {type: cross_entropy, ignore_index: 0}           # ... with a target id that is never scored
    loss: {a: cross_entropy, b: {type: mse, weight: 0.5}}  # one per output; the total is the weighted sum
"""
from __future__ import annotations

from .errors import Pos, did_you_mean

LOSS_KEYS = ("type", "weight", "ignore_index")
IGNORE = -100            # PyTorch's default ignore_index: target steps with no token to predict


def canonical(name, losses: dict) -> str | None:
    for kind, aliases in losses.items():
        if name == kind or name in aliases:
            return kind
    return None


def read_loss(raw, losses: dict, errors, pos: Pos) -> tuple[str, list | None]:
    """(the first loss's kind, the per-output entries or None for a single plain loss) from `train.loss`.

    Entries: {'output': name or None, 'type', 'weight', 'ignore_index'}."""
    if not isinstance(raw, dict):
        return raw, None
    pos_of = getattr(raw, "pos_of", lambda key: pos)
    if "type" in raw:
        entry = _entry(None, raw, losses, errors, pos)
        return entry["type"], [entry]
    entries = [_entry(str(name), value, losses, errors, pos_of(name)) for name, value in raw.items()]
    if not entries:
        errors.add(pos, "'train.loss' is an empty mapping", hint="give a loss name, e.g. loss: cross_entropy")
        return "cross_entropy", None
    return entries[0]["type"], entries


def _entry(output, raw, losses: dict, errors, pos: Pos) -> dict:
    where = "train.loss" + (f".{output}" if output else "")
    if not isinstance(raw, dict):
        raw = {"type": raw}
    pos_of = getattr(raw, "pos_of", lambda key: pos)
    entry = {"output": output, "type": "cross_entropy", "weight": 1.0, "ignore_index": None}
    for key, value in raw.items():
        if key not in LOSS_KEYS:
            errors.add(pos_of(key), f"unknown key '{key}' in '{where}'",
                       hint=did_you_mean(key, LOSS_KEYS) or f"allowed: {', '.join(LOSS_KEYS)}")
        elif key == "type":
            kind = canonical(value, losses)
            if kind is None:
                names = [*losses, *(a for v in losses.values() for a in v)]
                errors.add(pos_of(key), f"in '{where}': unknown loss {value!r}",
                           hint=did_you_mean(str(value), names) or f"choose one of {', '.join(losses)}")
            else:
                entry["type"] = kind
        elif key == "weight":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                errors.add(pos_of(key), f"in '{where}': weight must be a number >= 0, found {value!r}")
            else:
                entry["weight"] = float(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            errors.add(pos_of(key), f"in '{where}': ignore_index must be a whole number, found {value!r}")
        else:
            entry["ignore_index"] = value
    return entry


def loss_terms(graph, section=None) -> list:
    """One {'output', 'type', 'weight', 'ignore_index'} per graph output, in the graph's output order.

    A plain loss applies to every output with weight 1; per-output entries must name every output."""
    from .config import read_train
    from .errors import UserError
    section = section if section is not None else read_train(graph.train)
    entries = section.get("losses")
    if not entries or entries[0]["output"] is None:
        base = entries[0] if entries else {"type": section.loss, "weight": 1.0, "ignore_index": None}
        return [{**base, "output": name} for name in graph.outputs]
    named = {e["output"]: e for e in entries}
    unknown = [name for name in named if name not in graph.outputs]
    missing = [name for name in graph.outputs if name not in named]
    if unknown or missing:
        where = getattr(graph.train, "pos", None)
        text = (f"train.loss names {', '.join(repr(n) for n in unknown)}, not an output" if unknown else
                f"train.loss gives no loss for output {', '.join(repr(n) for n in missing)}")
        raise UserError(f"{where}: {text} (outputs: {', '.join(graph.outputs)})" if where else text,
                        "give one loss per output, named after the outputs")
    return [named[name] for name in graph.outputs]
