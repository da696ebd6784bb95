"""Bad inputs across the commands: each is exit 2, one line on stderr, no traceback, nothing written.

Every case runs `qsolid.cli.main` in-process. The finished run directory is synthesised once
(config, statistics, summary, samples, checkpoints, log: the files a finished run holds); cases
that are given it check that none of its files changed and none appeared. Cases given a fresh
--out check that it was not created.
"""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from qsolid import checkpoint, rundir
from qsolid.cli import main
from qsolid.vmc.config import load_config
from qsolid.schema import to_dict

TINY = {
    "system.structure": "bcc",
    "network.one_electron_width": 8,
    "network.two_electron_width": 4,
    "network.layers": 1,
    "network.determinants": 1,
    "sampling.batch_size": 8,
    "optimisation.steps": 4,
    "pretrain.steps": 0,
    "evaluation.steps": 4,
}
STATS_HEADER = "step,stage,energy_ha,variance_ha2,acceptance,electron_step_bohr,a_bohr,b_bohr,c_bohr,volume_per_atom_bohr3,enthalpy_ha"


def _config_dict(**overrides):
    return to_dict(load_config(overrides={**TINY, **overrides}))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run directory of a 2-atom bcc cell (synthesised: no training needed)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    run.mkdir()
    (run / "config.toml").write_text(tomli_w.dumps(_config_dict()))
    rows = [f"{s},train,{-1.0 - 0.01 * s},0.1,0.5,0.3,3.0,3.0,3.0,13.5,{-1.0 - 0.01 * s}" for s in range(4)]
    (run / "stats.csv").write_text(STATS_HEADER + "\n" + "\n".join(rows) + "\n")
    rundir.atomic_write_json(run / "summary.json", {"energy_ha": -1.03, "energy_error_ha": 0.01, "n_atoms": 2})
    rundir.atomic_write_json(run / "evaluation.json", {"energy_ha": -1.03, "energy_error_ha": 0.01})
    rng = np.random.default_rng(0)
    fractional = (np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]) + 0.01 * rng.standard_normal((20, 2, 3))) % 1.0
    np.savez(run / "samples.npz", protons_frac=fractional, lattice_bohr=3.0 * np.eye(3), numbers=np.ones(2, int))
    for step in (2, 4):
        checkpoint.save(checkpoint.step_path(run / "checkpoints", step), {"w": np.full(3, step, float)}, {"step": step})
    (run / "qsolid.log").write_text("2026-01-01 00:00:00 INFO qsolid run\n")
    return run


def _fingerprint(directory: Path) -> dict:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(directory.rglob("*"))
    }


def _copy(finished, tmp, name="copy"):
    return Path(shutil.copytree(finished, tmp / name))


def _write(tmp, name, content):
    path = tmp / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return str(path)


def _toml(**overrides):
    return tomli_w.dumps(_config_dict(**overrides))


def _raw_toml(section, line):
    return f"[system]\nstructure = 'bcc'\n[pretrain]\nsteps = 0\n[{section}]\n{line}\n" if section != "system" else (
        f"[system]\nstructure = 'bcc'\n{line}\n[pretrain]\nsteps = 0\n")


def _edited_copy(finished, tmp, edit):
    copy = _copy(finished, tmp)
    edit(copy)
    return copy


# Each case: (id, function (finished run, scratch dir) -> argv, expected start of the message after "qsolid: error: ").
# "{out}" in an argv stands for a fresh output directory that must not be created.
RUN = [
    ("rs-inf", lambda r, t: ["run", _write(t, "c.toml", _raw_toml("system", "rs = inf")), "--out", "{out}"], "system.rs: must be a finite number, got inf"),
    ("lattice-inf", lambda r, t: ["run", _write(t, "c.toml", _raw_toml("system", "lattice_constant_bohr = inf")), "--out", "{out}"], "system.lattice_constant_bohr: must be a finite"),
    ("isotope-inf", lambda r, t: ["run", _write(t, "c.toml", _raw_toml("system", "isotope = inf")), "--out", "{out}"], "system.isotope: must be a finite"),
    ("twist-nan", lambda r, t: ["run", _write(t, "c.toml", _raw_toml("system", "twists = [[0.0, nan, 0.0]]")), "--out", "{out}"], "system.twists[0][1]: must be a finite number, got nan"),
    ("learning-rate-inf", lambda r, t: ["run", _write(t, "c.toml", _raw_toml("optimisation", "learning_rate = inf")), "--out", "{out}"], "optimisation.learning_rate: must be a finite"),
    ("annealing-temperature-inf", lambda r, t: ["run", _write(t, "c.toml", _raw_toml("npt", "initial_temperature_ha = inf")), "--out", "{out}"], "npt.initial_temperature_ha: must be a finite"),
    ("step-nan", lambda r, t: ["run", _write(t, "c.toml", _raw_toml("sampling", "electron_step_bohr = nan")), "--out", "{out}"], "sampling.electron_step_bohr: must be a finite"),
    ("unknown-basis", lambda r, t: ["run", _write(t, "c.toml", _toml(**{"pretrain.steps": 5, "pretrain.basis": "no-such-basis"})), "--out", "{out}"], "pretrain.basis: PySCF has no basis 'no-such-basis'"),
    ("huge-supercell", lambda r, t: ["run", _write(t, "c.toml", _toml(**{"system.supercell": [100, 100, 100]})), "--out", "{out}"], "system.supercell: 2000000 nuclei and 2000000 electrons need at least"),
    ("huge-batch", lambda r, t: ["run", _write(t, "c.toml", _toml(**{"sampling.batch_size": 10**10})), "--out", "{out}"], "sampling.batch_size: 10000000000 walkers need at least"),
    ("out-is-finished-run", lambda r, t: ["run", _write(t, "c.toml", _toml()), "--out", str(r)], "--out: "),
    ("out-below-a-file", lambda r, t: ["run", _write(t, "c.toml", _toml()), "--out", str(r / "summary.json" / "new")], "run_dir: cannot create"),
    ("config-and-resume", lambda r, t: ["run", _write(t, "c.toml", _toml()), "--resume", str(r)], "run: give either a CONFIG or --resume"),
    ("resume-not-a-run", lambda r, t: ["run", "--resume", str(t)], "run_dir: "),
    ("config-missing", lambda r, t: ["run", str(t / "missing.toml"), "--out", "{out}"], "config: file not found"),
    ("config-invalid-toml", lambda r, t: ["run", _write(t, "c.toml", "[system\n"), "--out", "{out}"], "config: "),
    ("config-binary", lambda r, t: ["run", _write(t, "c.toml", bytes(range(256))), "--out", "{out}"], "config: "),
    ("config-is-a-directory", lambda r, t: ["run", str(t), "--out", "{out}"], "config: cannot read"),
    ("config-misspelt-key", lambda r, t: ["run", _write(t, "c.toml", "[sampling]\nbatchsize = 4\n"), "--out", "{out}"], "sampling.batchsize: unknown key (did you mean"),
    ("run-unknown-option", lambda r, t: ["run", "--bogus"], "unrecognized arguments: --bogus"),
]

EVALUATE = [
    ("evaluate-missing", lambda r, t: ["evaluate", str(t / "nothing")], "run_dir: "),
    ("evaluate-not-a-run", lambda r, t: ["evaluate", str(t)], "run_dir: "),
    ("evaluate-negative-steps", lambda r, t: ["evaluate", str(r), "--steps", "-3"], "--steps: must be >= 1"),
    ("evaluate-steps-not-int", lambda r, t: ["evaluate", str(r), "--steps", "many"], "--steps: must be a whole number"),
    ("evaluate-all-checkpoints-corrupt", lambda r, t: ["evaluate", str(_edited_copy(r, t, lambda c: [
        p.write_bytes(p.read_bytes()[:200]) for p in (c / "checkpoints").glob("*.npz")]))], "checkpoints: no valid checkpoint"),
    ("evaluate-no-checkpoints", lambda r, t: ["evaluate", str(_edited_copy(r, t, lambda c: shutil.rmtree(c / "checkpoints")))], "run_dir: "),
    ("evaluate-config-inf", lambda r, t: ["evaluate", str(_edited_copy(r, t, lambda c: (c / "config.toml").write_text(
        (c / "config.toml").read_text().replace("learning_rate = 0.05", "learning_rate = inf"))))], "optimisation.learning_rate: must be a finite"),
    ("evaluate-config-garbage", lambda r, t: ["evaluate", str(_edited_copy(r, t, lambda c: (c / "config.toml").write_bytes(b"\x00\xff\xfe")))], "config: "),
    ("evaluate-config-huge-batch", lambda r, t: ["evaluate", str(_edited_copy(r, t, lambda c: (c / "config.toml").write_text(
        (c / "config.toml").read_text().replace("batch_size = 8", f"batch_size = {10**10}"))))], "sampling.batch_size: "),
]

PLOT = [
    ("plot-missing", lambda r, t: ["plot", str(t / "nothing")], "run_dir: "),
    ("plot-header-only", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "stats.csv").write_text(STATS_HEADER + "\n")))], "stats.csv: "),
    ("plot-empty-file", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "stats.csv").write_text("")))], "stats.csv: "),
    ("plot-binary", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "stats.csv").write_bytes(bytes(range(256)) * 8)))], "stats.csv: "),
    ("plot-nul-bytes", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "stats.csv").write_bytes(b"\x00" * 64)))], "stats.csv: "),
    ("plot-ragged-row", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "stats.csv").write_text(STATS_HEADER + "\n1,train,2\n")))], "stats.csv: "),
    ("plot-non-numeric", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "stats.csv").write_text(
        STATS_HEADER + "\n" + "0,train,abc,0.1,0.5,0.3,3,3,3,13.5,1\n")))], "stats.csv: "),
    ("plot-foreign-columns", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "stats.csv").write_text("step,x\n0,1\n1,2\n")))], "stats.csv: "),
    ("plot-target-is-a-file", lambda r, t: ["plot", str(_edited_copy(r, t, lambda c: (c / "plots").write_text("not a folder")))], "plot: cannot create"),
]

ANALYZE = [
    ("analyze-missing", lambda r, t: ["analyze", str(t / "nothing.cif")], "path: "),
    ("analyze-garbage-cif", lambda r, t: ["analyze", _write(t, "garbage.cif", "not a cif\n")], "path: cannot read 'garbage.cif' as a structure ("),
    ("analyze-binary-cif", lambda r, t: ["analyze", _write(t, "binary.cif", bytes(range(256)) * 4)], "path: cannot read 'binary.cif'"),
    ("analyze-symprec-negative", lambda r, t: ["analyze", str(r), "--symprec", "-1"], "symprec: "),
    ("analyze-symprec-inf", lambda r, t: ["analyze", str(r), "--symprec", "inf"], "symprec: "),
    ("analyze-wavelength-nan", lambda r, t: ["analyze", str(r), "--wavelength-angstrom", "nan"], "wavelength_angstrom: "),
    ("analyze-volume-inf", lambda r, t: ["analyze", str(r), "--volume-per-atom-a3", "inf"], "volume_per_atom_a3: "),
    ("analyze-eos-missing", lambda r, t: ["analyze", str(r), "--eos-csv", str(t / "missing.csv")], "eos_csv: no such file"),
    ("analyze-eos-too-few", lambda r, t: ["analyze", str(r), "--eos-csv", _write(t, "pv.csv", "volume_a3_per_atom,pressure_gpa\n2,100\n")], "eos_csv: need at least 4"),
    ("analyze-eos-binary", lambda r, t: ["analyze", str(r), "--eos-csv", _write(t, "pv.csv", bytes(range(256)) * 4)], "eos_csv: 'pv.csv' is not a CSV"),
    ("analyze-experiment-columns", lambda r, t: ["analyze", str(r), "--experiment-csv", _write(t, "exp.csv", "v,p\n1,2\n")], "experiment_csv: 'exp.csv' needs"),
    ("analyze-compare-garbage", lambda r, t: ["analyze", str(r), "--compare", _write(t, "other.cif", "garbage\n")], "compare: cannot read 'other.cif'"),
    ("analyze-empty-dir", lambda r, t: ["analyze", str(t)], "path: "),
    ("analyze-corrupt-samples", lambda r, t: ["analyze", str(_edited_copy(r, t, lambda c: (c / "samples.npz").write_bytes(b"PK\x03\x04 broken")))], "path: cannot read 'samples.npz'"),
    ("analyze-out-is-a-file", lambda r, t: ["analyze", str(r), "--out", str(r / "summary.json")], "out: "),
    ("analyze-bad-align", lambda r, t: ["analyze", str(r), "--align", "sideways"], "argument --align: invalid choice"),
]

NCT = [
    ("nct-frequencies-inf", lambda r, t: ["nct", "run", _write(t, "n.toml", "[system]\nkind = 'harmonic'\nfrequencies = [1.0, inf]\n"), "--out", "{out}"], "system.frequencies[1]: must be a finite"),
    ("nct-beta-nan", lambda r, t: ["nct", "run", _write(t, "n.toml", "[system]\nbeta = nan\n"), "--out", "{out}"], "system.beta: must be a finite number, got nan"),
    ("nct-temperature-inf", lambda r, t: ["nct", "run", _write(t, "n.toml", "[system]\nkind = 'crystal'\ntemperature_k = inf\n"), "--out", "{out}"], "system.temperature_k: must be a finite"),
    ("nct-volume-inf", lambda r, t: ["nct", "run", _write(t, "n.toml", "[system]\nkind = 'crystal'\nvolume_per_atom_angstrom3 = inf\n"), "--out", "{out}"], "system.volume_per_atom_angstrom3: must be a finite"),
    ("nct-mass-nan", lambda r, t: ["nct", "run", _write(t, "n.toml", "[system]\nkind = 'crystal'\nmass_amu = nan\n"), "--out", "{out}"], "system.mass_amu: must be a finite"),
    ("nct-misspelt-key", lambda r, t: ["nct", "run", _write(t, "n.toml", "[system]\nbetta = 1.0\n"), "--out", "{out}"], "system.betta: unknown key"),
]

CASES = RUN + EVALUATE + PLOT + ANALYZE + NCT


def test_at_least_forty_cases_over_every_command():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)
    assert all(len(group) >= 5 for group in (RUN, EVALUATE, PLOT, ANALYZE, NCT))


@pytest.mark.parametrize("name, make_argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(finished, tmp_path, capsys, name, make_argv, message):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = tmp_path / "out"
    argv = [str(out) if a == "{out}" else a for a in make_argv(finished, scratch)]
    before_run, before_scratch = _fingerprint(finished), _fingerprint(scratch)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("qsolid: error: " + message), captured.err
    assert not out.exists()
    assert _fingerprint(finished) == before_run
    assert _fingerprint(scratch) == before_scratch


def test_a_run_that_cannot_go_on_is_one_line_exit_1(finished, tmp_path, capsys, monkeypatch):
    """A RunFailed from the library (e.g. qsolid.vmc.train.TrainingFailed after 20 rewinds) reaches the user as
    one line, not a traceback, and leaves the run directory as it was."""
    from qsolid.vmc import driver
    from qsolid.vmc.train import TrainingFailed

    def fail(*args, **kwargs):
        raise TrainingFailed("step 891: 20 consecutive rewinds, the last because of a test")

    monkeypatch.setattr(driver, "run", fail)
    before = _fingerprint(finished)
    code = main(["run", "--resume", str(finished)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == "qsolid: error: step 891: 20 consecutive rewinds, the last because of a test\n"
    assert _fingerprint(finished) == before
