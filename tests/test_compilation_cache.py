"""JAX's persistent compilation cache as the command line sets it up (qsolid.compilation_cache)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qsolid import compilation_cache

RUN = """
import collections, json, sys
from qsolid import compilation_cache
compilation_cache.configure()  # what `qsolid` does first (qsolid.cli imports no jax); here before the listener
import jax
counts = collections.Counter()
jax.monitoring.register_event_listener(lambda name, **kw: counts.update([name.rsplit("/", 1)[-1]]))
from qsolid.cli import main
code = main(sys.argv[1:])
print("COUNTS " + json.dumps({"exit": code, "hits": counts["cache_hits"], "misses": counts["cache_misses"]}))
"""
CONFIG = """precision = "float64"
[system]
structure = "h-atom"
box_bohr = 8.0
spin_polarisation = 1
[network]
one_electron_width = 8
two_electron_width = 4
layers = 1
determinants = 1
[sampling]
batch_size = 16
burn_in_sweeps = 5
[optimisation]
steps = 3
[pretrain]
steps = 0
[evaluation]
steps = 4
sweeps_per_step = 2
"""


def test_directory_choice():
    env = {"HOME": "/home/u", "XDG_CACHE_HOME": "/c"}
    assert compilation_cache.configure(env) == f"/c/qsolid/jax-{compilation_cache.machine_tag()}"
    assert env["JAX_COMPILATION_CACHE_DIR"] == f"/c/qsolid/jax-{compilation_cache.machine_tag()}"
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3"
    env = {"QSOLID_COMPILATION_CACHE": "/scratch/cache", "TF_CPP_MIN_LOG_LEVEL": "0"}
    assert compilation_cache.configure(env) == "/scratch/cache" and env["TF_CPP_MIN_LOG_LEVEL"] == "0"
    env = {"QSOLID_COMPILATION_CACHE": "off"}
    assert compilation_cache.configure(env) is None and "JAX_COMPILATION_CACHE_DIR" not in env
    env = {"JAX_COMPILATION_CACHE_DIR": "/theirs", "QSOLID_COMPILATION_CACHE": "/ours"}
    assert compilation_cache.configure(env) == "/theirs"  # the user's JAX setting wins
    assert compilation_cache.machine_tag().count("-") >= 1


def _qsolid(args, env):
    result = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=env, timeout=900)
    line = next(line for line in result.stdout.splitlines() if line.startswith("COUNTS "))
    return json.loads(line[len("COUNTS "):]), result.stderr


@pytest.mark.slow
def test_a_resumed_run_loads_its_compiled_programs(tmp_path):
    config = tmp_path / "atom.toml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", "TF_CPP_MIN_LOG_LEVEL")}
    env.update(QSOLID_COMPILATION_CACHE=str(tmp_path / "cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    first, _ = _qsolid(["run", str(config), "--out", str(tmp_path / "run")], env)
    assert first["exit"] == 0 and first["misses"] > 5 and first["hits"] == 0
    assert any(Path(tmp_path / "cache").iterdir())
    resumed, stderr = _qsolid(["run", "--resume", str(tmp_path / "run"), "--steps", "5"], env)
    assert resumed["exit"] == 0
    assert resumed["hits"] > 5 and resumed["misses"] <= 2, resumed  # the step, sampler and evaluation: from disk
    assert "prefer-no-gather" not in stderr  # XLA's false alarm is silenced
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 5


def test_the_command_line_module_imports_no_jax():
    """`qsolid` sets the cache up in main(); JAX reads it when first imported, so qsolid.cli must not import jax."""
    script = "import sys, qsolid.cli; print('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip() == "False"
