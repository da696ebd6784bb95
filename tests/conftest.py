"""Test-session settings: a float64 fixture, and one persistent JAX compilation cache per session.

Many tests build the same programs through fresh closures (a new `build_problem` per test, the
command line run in a subprocess); JAX's in-memory cache is keyed by the Python function, so each
would compile again. A persistent cache in a temporary directory, shared by the session's
subprocesses and pytest-xdist workers through JAX_COMPILATION_CACHE_DIR (which `qsolid` honours,
qsolid/compilation_cache.py), loads every repeat from disk. The directory is new each session, so
no test depends on programs compiled before it, and the user's own cache is left alone.
"""

import os
import shutil
import tempfile

FAST_COMPILE = "--xla_backend_optimization_level=0"
"""LLVM without its optimisation passes: the suite's time is mostly compilation of programs it runs a few
times, and this cuts it by a third (a tiny bcc-2 run, idle machine: 26.9 s -> 18.8 s). HLO-level passes still run;
no test times code."""
OWNER = "QSOLID_TESTS_CACHE_OWNER"  # the pid of the process that made the directory and removes it
if OWNER not in os.environ:  # the controlling process; xdist workers inherit its directory
    os.environ[OWNER] = str(os.getpid())
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="qsolid-tests-jax-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # XLA's false SIGILL alarm per loaded program
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()

import jax  # noqa: E402  (after the environment it reads)
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])  # if jax was imported first
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def pytest_unconfigure(config):
    if os.environ.get(OWNER) == str(os.getpid()):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def float64():
    """Run a test in float64 and restore the previous precision afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)
