"""A model potential given as a Python function ([system] kind = "function", issue 20 item 10)."""

from pathlib import Path

import pytest

from qsolid import cli
from qsolid.nct import config, driver
from qsolid.schema import ConfigError, to_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHORT = {"ansatz": {"levels": 8, "flow_depth": 1, "flow_hidden": 4, "level_mixing": True},
         "optimisation": {"steps": 8}, "sampling": {"batch_size": 64, "sweeps_per_step": 4, "burn_in_sweeps": 20},
         "evaluation": {"steps": 4, "excitation_walkers": 0}, "output": {"checkpoint_every": 100}}


def _short(path):
    data = to_dict(config.load(path))
    for name, values in SHORT.items():
        data[name].update(values)
    return config.from_dict(data)


@pytest.mark.slow
def test_function_reproduces_the_builtin_quartic(tmp_path):
    """Same seed, same steps: the function's V is the built-in quartic up to the order of float operations,
    so every sampled number agrees to float64 round-off, amplified over 12 steps (not to the error bar)."""
    builtin = driver.run(_short(EXAMPLES / "nct_quartic2d_beta1.toml"), tmp_path / "builtin")
    function = driver.run(_short(EXAMPLES / "nct_function_quartic2d_beta1.toml"), tmp_path / "function")
    assert function["harmonic_free_energy"] == pytest.approx(builtin["harmonic_free_energy"], abs=1e-12)
    for key in ("free_energy", "energy", "entropy_kb"):
        assert function[key] == pytest.approx(builtin[key], abs=1e-9), key
    assert builtin["free_energy_error"] > 1e-4  # the agreement is far inside the statistical error


@pytest.mark.parametrize("system, message", [
    ({"function": "no_such_module_xyz:v", "dimension": 2}, "system.function: cannot import module 'no_such_module_xyz'"),
    ({"function": "math:no_such_name", "dimension": 2}, "system.function: module 'math' has no attribute 'no_such_name'"),
    ({"function": "math:pi", "dimension": 2}, "system.function: math:pi is not callable"),
    ({"function": "jax.numpy:cos", "dimension": 2}, "must return a scalar"),
    ({"function": "math:cos", "dimension": 2}, "system.function: math:cos(q) failed for q of length 2"),
    ({"function": "jax.numpy:sum", "dimension": 2, "masses": [1.0]}, "system.masses: needs one value per coordinate"),
    ({"dimension": 2}, "system.function: must be 'module:name'"),
])
def test_bad_function_is_a_one_line_config_error(system, message):
    with pytest.raises(ConfigError) as error:
        config.from_dict({"system": {"kind": "function", **system}})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_function_config_error_through_the_cli(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[system]\nkind = "function"\nfunction = "missing_potential:v"\ndimension = 2\n')
    out = tmp_path / "run"
    assert cli.main(["nct", "run", str(path), "--out", str(out)]) == 2
    assert "system.function: cannot import module 'missing_potential'" in capsys.readouterr().err
    assert not out.exists()
