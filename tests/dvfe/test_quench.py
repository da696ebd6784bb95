"""`qsolid dvfe quench`: Metropolis on p(X)^beta of a trained flow lowers the potential; CIF for `qsolid analyze`."""

import json

import numpy as np
import pytest

from qsolid import cli
from qsolid.analysis import report
from qsolid.analysis.crystal import read_structure
from qsolid.dvfe import config, driver, quench, thermo
from qsolid.units import BOHR_ANGSTROM
from tests.dvfe.test_driver import two_particles


def test_quench_command_writes_a_structure_qsolid_analyze_reads(tmp_path, capsys):
    """Through the command line on an ideal-gas run (cheap; every configuration is equally probable)."""
    ideal = config.from_dict({"system": {"n_atoms": 4, "rs": 1.25}, "potential": {"kind": "none"},
                              "flow": {"kind": "identity"}, "sampling": {"batch_size": 8},
                              "optimisation": {"steps": 0}, "evaluation": {"steps": 2}})
    run_dir = tmp_path / "run"
    driver.run(ideal, run_dir)
    out = tmp_path / "q.cif"
    assert cli.main(["dvfe", "quench", str(run_dir), "--steps", "4", "--walkers", "8", "--out", str(out)]) == 0
    assert "ln p =" in capsys.readouterr().out
    record = json.loads(out.with_suffix(".json").read_text())
    assert (record["steps"], record["walkers"], record["beta"]) == (4, 8, quench.DEFAULT_BETA)
    assert record["acceptance"] == 1.0  # ln p is constant
    crystal = read_structure(out)  # what `qsolid analyze FILE` reads
    box = driver.ensemble_of(ideal).box_length
    np.testing.assert_allclose(crystal.lattice_bohr, box * np.eye(3), rtol=1e-10)
    cell_a_angstrom = float(out.read_text().split("_cell_length_a")[1].split()[0])
    assert cell_a_angstrom == pytest.approx(box * BOHR_ANGSTROM, rel=1e-12)
    assert list(crystal.numbers) == [1] * 4
    distances = [np.linalg.norm(box * (d - np.round(d))) for i in range(4) for j in range(i)
                 for d in [crystal.fractional[i] - crystal.fractional[j]]]
    assert min(distances) == pytest.approx(record["nearest_neighbour_bohr"], rel=1e-9)
    analysis = report.analyze(out, tmp_path / "analysis", report.AnalysisOptions())
    assert analysis["space_group_number"] >= 1

    for arguments, field in ((["--beta", "0"], "beta"), (["--steps", "-1"], "steps"), (["--walkers", "0"], "walkers"),
                             (["--out", str(out)], "out"),  # exists: never overwritten
                             (["--out", str(tmp_path / "q.xyz")], "out"),
                             (["--out", str(tmp_path / "missing" / "q.cif")], "out")):
        assert cli.main(["dvfe", "quench", str(run_dir), *arguments]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"qsolid: error: {field}:") and "\n" not in error
    assert cli.main(["dvfe", "quench", str(tmp_path)]) == 2
    assert "not a dvfe run directory" in capsys.readouterr().err


@pytest.mark.slow
def test_quench_of_a_trained_flow_lowers_the_potential(tmp_path):
    """Two protons with a Gaussian repulsion, a flow briefly trained: V of the quenched configuration lies far
    below <V>_p of the flow (from the run's evaluation, <V>/N = E/N - 3/2 k_BT, with its error bar)."""
    pair = two_particles(sampling={"batch_size": 32}, optimisation={"steps": 30}, evaluation={"steps": 32})
    summary = driver.run(pair, tmp_path / "run")
    record = quench.quench(tmp_path / "run", beta=50.0, steps=120, walkers=8)
    mean_potential = summary["energy_ha_per_atom"] - 1.5 * thermo.kelvin_to_hartree(pair.system.temperature_k)
    assert record["potential_ha_per_atom"] < mean_potential - 5 * summary["energy_ha_per_atom_error"]
    assert record["log_density"] > record["log_density_initial_mean"]
    assert 0.2 < record["acceptance"] < 0.8  # the step adapts to half acceptance
    assert record["checkpoint_step"] == 62 and record["quench_temperature_k"] == pytest.approx(3000.0 / 50)
    assert (tmp_path / "run" / "quench.cif").is_file()
