"""Where commands write: default file names from a spec's name, and checks of the output paths a user gives.

Default outputs always land in the working directory or under `runs/`, whatever the spec's name holds;
a path the user names must lie in a folder that exists (netspec creates no folders but a run directory
and the `runs` folder that holds it).
"""
from __future__ import annotations

import os
import re

from .errors import UserError

RUNS = "runs"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def file_stem(name: str) -> str:
    """`name` as one plain file name: letters, digits, `_`, `-` and `.` (not leading), at most 100 characters."""
    stem = _UNSAFE.sub("_", str(name)).lstrip(".")[:100].rstrip(".")
    return stem or "model"


def default_output(name: str, suffix: str) -> str:
    """`<name>.<suffix>` in the working directory."""
    return f"{file_stem(name)}.{suffix}"


def default_run_dir(name: str) -> str:
    """`runs/<name>`."""
    return os.path.join(RUNS, file_stem(name))


def check_output_file(path: str, option: str = "-o") -> str:
    """`path` if a file can be written there; a UserError when it is a folder or its folder does not exist."""
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory", f"give {option} a file name inside it")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise UserError(f"cannot write '{path}': folder '{folder}' does not exist",
                        "create it first (netspec creates no folders for output files)")
    return path


def check_run_dir(path: str) -> str:
    """`path` if it can serve as a run directory: an existing folder, or a new one in an existing folder or in
    a (new) `runs` folder of an existing folder."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"run directory '{path}' is a file", "give --run-dir a folder")
    parent = os.path.dirname(os.path.normpath(path))
    if os.path.basename(parent) == RUNS:
        parent = os.path.dirname(parent)
    if not os.path.isdir(path) and parent and not os.path.isdir(parent):
        raise UserError(f"cannot make run directory '{path}': folder '{parent}' does not exist",
                        "create it first, or leave --run-dir out to use runs/<spec name>")
    return path

