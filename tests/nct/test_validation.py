"""Bad NCT input is refused with one line before a run directory exists (issue 20 items 13, 15), and the
earlier vocabulary names its replacement (issue 17)."""

import hashlib

import pytest

from qsolid import cli
from qsolid.nct import config, driver
from qsolid import schema
from qsolid.schema import ConfigError, to_dict

CRYSTAL = '[system]\nkind = "crystal"\nstructure = "fcc"\nsupercell = [1, 1, 1]\n'


def _refused(tmp_path, capsys, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "run"
    assert cli.main(["nct", "run", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert not out.exists() and "\n" not in error and "Traceback" not in error
    return error


@pytest.mark.parametrize("text, message", [
    (CRYSTAL + 'model_file = "missing.dp"\n', "system.model_file: no such file:"),
    (CRYSTAL + 'model_file = "garbage.dp"\n', "system.model_file: "),
    (CRYSTAL + 'potential = "ase"\nase_calculator = "no_such_calculators:Calc"\n',
     "system.ase_calculator: cannot import module 'no_such_calculators'"),
    (CRYSTAL + 'potential = "ase"\nase_calculator = "ase.calculators.lj:NoSuch"\n',
     "system.ase_calculator: module 'ase.calculators.lj' has no attribute 'NoSuch'"),
    (CRYSTAL + 'potential = "ase"\nase_calculator = "ase.calculators.emt:EMT"\n',
     "system.potential: the ase surface fails at the reference structure (NotImplementedError"),
    (CRYSTAL + 'potential = "ase"\nelement = "Xx"\n', "system.element: cannot build fcc 'Xx'"),
    (CRYSTAL + 'potential = "ase"\n', "system: the reference structure is not a minimum of the surface"),
    ('[system]\nkind = "function"\nfunction = "jax.numpy:sum"\ndimension = 2\n',
     "system: the reference structure is not a minimum of the surface"),
])
def test_surface_problems_are_one_line_errors_before_the_run_directory(tmp_path, capsys, text, message):
    (tmp_path / "garbage.dp").write_bytes(b"not a model\x00\x01" * 100)
    assert message in _refused(tmp_path, capsys, text)


@pytest.mark.parametrize("text, message", [
    ("[run]\nseed = 3\n", "run.seed was renamed: use seed"),
    ("[run]\neval_steps = 3\n", "run.eval_steps was renamed: use evaluation.steps"),
    ("[sampling]\nwalkers = 64\n", "sampling.walkers was renamed: use sampling.batch_size"),
    ("[sampling]\nsweeps = 4\n", "sampling.sweeps was renamed: use sampling.sweeps_per_step"),
    ("[optimizer]\nlearning_rate_flow = 0.1\n", "optimizer.learning_rate_flow was renamed: use optimisation.learning_rate_flow"),
    ("[pressure]\ntarget_gpa = 1.0\n", "pressure.target_gpa was renamed: use npt.pressure_gpa"),
    ("[pressure]\ncell = 'cubic'\n", "pressure.cell was renamed: use npt.lattice_mode ('cubic' is now 'isotropic'"),
    ("[crystal]\nlattice = 'bcc'\n", "crystal.lattice was renamed: use system.structure"),
    ("[crystal]\nelement = 'Na'\n", "crystal.element was renamed: use system.element"),
])
def test_earlier_vocabulary_names_the_new_key(tmp_path, capsys, text, message):
    assert message in _refused(tmp_path, capsys, text)


def test_changed_fields_are_dotted_names():
    old = to_dict(config.from_dict({}))
    new = to_dict(config.from_dict({"seed": 1, "sampling": {"batch_size": 8}, "output": {}}))
    assert schema.changed_fields(old, new) == ["sampling.batch_size", "seed"]
    assert schema.changed_fields(old, old) == []


def _checksums(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_resume_refuses_a_changed_config(tmp_path, capsys):
    data = {"system": {"kind": "harmonic", "frequencies": [0.8, 1.3]},
            "ansatz": {"levels": 4, "flow_depth": 1, "flow_hidden": 4}, "optimisation": {"steps": 2},
            "sampling": {"batch_size": 16, "sweeps_per_step": 2, "burn_in_sweeps": 4},
            "evaluation": {"steps": 1, "excitation_walkers": 0}, "output": {}}
    run_dir = tmp_path / "run"
    driver.run(config.from_dict(data), run_dir)
    before = _checksums(run_dir)
    changed = to_dict(config.from_dict(data))
    changed["optimisation"]["steps"] = 5
    changed["seed"] = 7
    with pytest.raises(ConfigError, match=r"^resume: CONFIG differs from the run in .* in optimisation.steps, seed;"):
        driver.run(config.from_dict(changed), run_dir, resume=True)
    written = run_dir / "config.toml"
    written.write_text(written.read_text().replace("learning_rate_flow = 0.001", "learning_rate_flow = 0.01"))
    edited = _checksums(run_dir)
    path = tmp_path / "same.toml"
    import tomli_w

    path.write_text(tomli_w.dumps(to_dict(config.from_dict(data))))
    assert cli.main(["nct", "run", str(path), "--out", str(run_dir), "--resume"]) == 2
    assert "config.toml was edited after the run started (optimisation.learning_rate_flow)" in capsys.readouterr().err
    assert cli.main(["nct", "run", str(written), "--out", str(run_dir), "--resume"]) == 2
    assert "CONFIG differs from the run in" in capsys.readouterr().err
    assert _checksums(run_dir) == edited and set(edited) == set(before)
