"""Runs through the Python API for the engine tests, optionally stopped after some steps."""

import qsolid
from qsolid import rundir, runloop
from qsolid.vmc.config import load_config

TINY_RUN = {
    "network.one_electron_width": 8,
    "network.two_electron_width": 4,
    "network.layers": 1,
    "network.determinants": 1,
    "sampling.batch_size": 8,
    "sampling.burn_in_sweeps": 5,
    "sampling.sweeps_per_step": 2,
    "sampling.adapt_every": 2,
    "output.checkpoint_every": 100,
}
"""A run of seconds: a tiny network, 8 walkers, short sampling; the tests add their steps."""


def run(run_dir, overrides, stop_after=None, monkeypatch=None):
    """qsolid.run through the Python API: a new run, or a resumed one when run_dir holds a config;
    with stop_after, the stop request reads as set from its stop_after-th reading on."""
    config = load_config(overrides=overrides)
    resume = (run_dir / "config.toml").exists()
    if stop_after is not None:
        calls = {"n": 0}

        class StopAfter(rundir.StopRequest):
            @property
            def requested(self):
                calls["n"] += 1
                return calls["n"] >= stop_after

            @requested.setter
            def requested(self, value):
                pass

        monkeypatch.setattr(runloop, "StopRequest", StopAfter)
    return qsolid.run(config, run_dir, resume=resume)
