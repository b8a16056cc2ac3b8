"""Run the real `python -m netspec` in a subprocess and check that a refusal is one clean message."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def netspec(*args, cwd, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT, "NETSPEC_THREADS": "1"}
    env.pop("NETSPEC_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "netspec", *map(str, args)], check=False, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_refused(result: subprocess.CompletedProcess, filename: str, *words: str) -> str:
    """Exit 1 with one message that names `filename` and says `words`; no traceback, no internal error."""
    err = result.stderr
    assert result.returncode == 1, (result.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert "allow_pickle" not in err, err
    assert filename in err, err
    for word in words:
        assert word in err, (word, err)
    return err
