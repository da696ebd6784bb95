"""Harmonic limit of NCT: exact F and S at the start, and recovery from a perturbed flow.

Prints JSON: the harmonic surface omega = (0.6, 1.0, 1.7) at beta = 1, (a) identity flow with harmonic
Boltzmann occupations (evaluation only), (b) training from a flow perturbed by N(0, 0.1) noise.
Run: python benchmarks/nct_harmonic_limit.py
"""

import json
import sys
import tempfile

from qsolid import rundir
from qsolid.nct import config, driver


def _config(steps, noise, train):
    return config.from_dict({
        "system": {"kind": "harmonic", "frequencies": [0.6, 1.0, 1.7], "beta": 1.0},
        "ansatz": {"levels": 40, "flow_depth": 1, "flow_hidden": 8, "initial_flow_noise": noise,
                   "train_flow": train, "train_occupations": train},
        "optimisation": {"steps": steps, "learning_rate_flow": 1e-2, "decay_steps": 500},
        "sampling": {"batch_size": 512, "sweeps_per_step": 10},
        "evaluation": {"steps": 100, "excitation_walkers": 0},
    })


def main():
    out = {}
    with tempfile.TemporaryDirectory() as directory:
        for name, cfg in (("identity_flow_harmonic_p", _config(0, 0.0, False)),
                          ("trained_from_perturbed_flow", _config(1500, 0.1, True))):
            summary = driver.run(cfg, f"{directory}/{name}")
            stats = rundir.read_stats(f"{directory}/{name}/stats.csv")
            out[name] = {key: summary[key] for key in ("free_energy", "free_energy_error", "entropy_kb", "entropy_kb_error",
                                                         "harmonic_free_energy", "harmonic_entropy_kb",
                                                         "harmonic_free_energy_level_cutoff")}
            out[name]["first_step_free_energy"] = stats["free_energy"][0]
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
