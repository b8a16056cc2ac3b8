"""`Record`: field-wise repr and equality for the plain value classes on `netspec check`'s path.

They are written as ordinary classes with an explicit `__init__` rather than dataclasses:
importing `dataclasses` (and `inspect` behind it) and generating the methods costs `netspec check`
about 15 ms of its start-up, which benchmarks/bench_check.py counts.
"""
from __future__ import annotations


class Record:
    """Mixin: repr and == over the instance's attributes, in assignment order."""

    __hash__ = None   # mutable by default; frozen records define their own

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(self) == vars(other)


class FrozenRecord(Record):
    """A Record that is hashable and refuses assignment after `__init__`."""

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _init(self, **fields) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __hash__(self) -> int:
        return hash(tuple(vars(self).values()))
