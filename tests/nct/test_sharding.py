"""The same run on two (forced host) devices gives the numbers of the one-device run."""

import pytest
import json
import subprocess
import sys

from qsolid.nct import config, driver
from tests.devices import cpu_devices_environment

CONFIG = {
    "system": {"kind": "quartic", "frequencies": [1.0, 1.5], "beta": 1.0},
    "ansatz": {"levels": 8, "flow_depth": 1, "flow_hidden": 4},
    "optimisation": {"steps": 3},
    "sampling": {"batch_size": 32, "sweeps_per_step": 4, "burn_in_sweeps": 10},
    "evaluation": {"steps": 3, "excitation_walkers": 0},
    "output": {"checkpoint_every": 10},
}

SCRIPT = """
import json, sys
import jax
from qsolid.nct import config, driver
assert len(jax.devices()) == 2
summary = driver.run(config.from_dict(json.loads(sys.argv[1])), sys.argv[2])
print(json.dumps(summary["free_energy"]))
"""


@pytest.mark.slow
def test_two_devices_reproduce_one_device(tmp_path):
    single = driver.run(config.from_dict(CONFIG), tmp_path / "one")["free_energy"]
    environment = cpu_devices_environment(2)
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CONFIG), str(tmp_path / "two")],
                            env=environment, capture_output=True, text=True, check=True)
    double = json.loads(result.stdout.strip().splitlines()[-1])
    assert abs(double - single) < 1e-9 * max(1.0, abs(single))
