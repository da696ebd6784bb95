"""Config validation: every invalid value is a one-line error naming the field, exit code 2, nothing written."""

import tomllib

import pytest

from qsolid.cli import main
from qsolid.vmc.config import Config, load_config, main_job_config
from qsolid.schema import ConfigError, parse, to_commented_toml


def _write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


INVALID = [
    ("[sampling]\nbatch_size = -4\n", "sampling.batch_size"),
    ("[sampling]\nbatch_size = 2.5\n", "sampling.batch_size"),
    ("[sampling]\nbatchsize = 4\n", "did you mean 'sampling.batch_size'"),
    ("[sytem]\n", "did you mean 'system'"),
    ("[network]\nlayers = true\n", "network.layers"),
    ("precision = 'float16'\n", "precision"),
    ("[optimisation]\noptimiser = 'sgd'\n", "optimisation.optimiser"),
    ("[system]\nsupercell = [1, 1]\n", "system.supercell"),
    ("[system]\nstructure = 'h-atom'\n", "system.spin_polarisation"),
    ("[system]\nstructure = 'bcc'\nspin_polarisation = 1\n", "system.spin_polarisation"),
    ("[system]\nstructure = 'no/such/file.cif'\n", "system.structure"),
    ("[system]\nstructure = 'h2-molecule'\nbond_length_bohr = 0.1\n", "nuclei overlap"),
    ("[sampling]\ntarget_acceptance = 1.5\n", "sampling.target_acceptance"),
    ("seed = 'one'\n", "seed"),
    ("[network]\nansatz = 'mpnn'\none_electron_width = 16\n", "network.one_electron_width: not used by ansatz = 'mpnn'"),
    ("[network]\nmpnn_rounds = 3\n", "network.mpnn_rounds: not used by ansatz = 'neural'"),
    ("[system\n", "not valid TOML"),
]


@pytest.mark.parametrize("text, expected", INVALID)
def test_invalid_config_is_one_line_error_and_exit_2(tmp_path, capsys, text, expected):
    out = tmp_path / "run"
    code = main(["run", str(_write(tmp_path, text)), "--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert expected in error and "\n" not in error and error.startswith("qsolid: error: ")
    assert not out.exists()


def test_overlapping_protons_in_structure_file(tmp_path, capsys):
    cif = tmp_path / "bad.xyz"
    cif.write_text('2\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 pbc="T T T"\nH 0 0 0\nH 0.1 0 0\n')
    code = main(["run", str(_write(tmp_path, f"[system]\nstructure = '{cif}'\n")), "--out", str(tmp_path / "r")])
    assert code == 2 and "nuclei overlap" in capsys.readouterr().err


def test_existing_run_directory_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    assert main(["run", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == "{}"


def test_default_config_prints_as_commented_toml_that_round_trips(capsys):
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert "# Number of walkers" in text
    assert load_config(overrides=None) == Config()
    assert parse(Config, tomllib.loads(text)) == Config()  # `qsolid config` prints the defaults


def test_main_job_is_the_example_file_and_anneals_the_cell():
    """`qsolid run` without a config runs examples/main_job.toml; a config naming only a pressure
    keeps the cell fixed (one default for lattice_mode, wherever it is read)."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "main_job.toml"
    assert main_job_config() == load_config(example)
    assert main_job_config().npt.lattice_mode == "lengths"
    assert load_config(overrides={"npt.pressure_gpa": 100.0}).npt.lattice_mode == Config().npt.lattice_mode == "fixed"


def test_every_field_is_documented():
    text = to_commented_toml(Config())
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[index - 1].startswith("#"), f"undocumented field: {line}"


def test_config_error_names_nested_field():
    with pytest.raises(ConfigError, match=r"^optimisation.learning_rate: must be > 0"):
        load_config(overrides={"optimisation.learning_rate": -1.0})


def test_table_valued_fields_print_as_inline_tables():
    import dataclasses
    import tomllib

    from qsolid.schema import option

    @dataclasses.dataclass(frozen=True)
    class Section:
        empty: dict[str, float] = option({}, "An empty table.")
        masses: dict[str, float] = option({"H": 1836.15, "D": 3670.48}, "A table.")

    parsed = tomllib.loads(to_commented_toml(Section()))
    assert parsed == {"empty": {}, "masses": {"H": 1836.15, "D": 3670.48}}


@pytest.mark.parametrize(
    "nuclei, choice, expected",
    [("quantum", "auto", True), ("clamped", "auto", False), ("quantum", False, False), ("clamped", True, True)],
)
def test_resampling_after_each_update_is_on_for_quantum_nuclei_unless_set(nuclei, choice, expected):
    config = load_config(overrides={"system.nuclei": nuclei, "sampling.resample_after_update": choice})
    assert config.resamples_after_update is expected


def test_resample_after_update_refuses_other_words():
    with pytest.raises(ConfigError, match="sampling.resample_after_update: expected bool or 'auto'"):
        load_config(overrides={"sampling.resample_after_update": "yes"})
