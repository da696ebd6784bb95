"""Importing qsolid changes no global JAX state (issue 17: precision is a per-run setting)."""

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import jax
import qsolid

before = (jax.config.jax_enable_x64, jax.config.jax_default_matmul_precision)
names = [info.name for info in pkgutil.walk_packages(qsolid.__path__, "qsolid.")]
for name in names:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:  # an optional extra (e.g. deepmd) that is not installed
        if error.name.split(".")[0] == "qsolid":
            raise
after = (jax.config.jax_enable_x64, jax.config.jax_default_matmul_precision)
print(len(names), before == after, before, after)
"""


def test_importing_every_module_leaves_jax_flags_unchanged():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    count, unchanged, *flags = result.stdout.split(maxsplit=2)
    assert int(count) > 30  # every module was found, not an empty walk
    assert unchanged == "True", flags


def test_precision_is_restored_after_use():
    import jax

    from qsolid import precision

    before = (jax.config.jax_enable_x64, jax.config.jax_default_matmul_precision)
    for name, x64 in (("float64", True), ("float32", False)):
        with precision.use(name):
            assert jax.config.jax_enable_x64 is x64
            assert jax.numpy.zeros(1).dtype == (jax.numpy.float64 if x64 else jax.numpy.float32)
        assert (jax.config.jax_enable_x64, jax.config.jax_default_matmul_precision) == before
