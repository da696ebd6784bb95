"""`qsolid analyze` end to end: a structure file, a run directory with samples.npz, invalid input."""

import argparse
import json

import numpy as np
import pytest
from .analysis_structures import cmcm_crystal, cmcm_structure, synthetic_samples

from qsolid.analysis import command
from qsolid.analysis.crystal import read_structure
from qsolid.analysis.symmetry import find_symmetry


def analyze(*argv) -> int:
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["analyze", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="module")
def cmcm_cif(tmp_path_factory):
    path = tmp_path_factory.mktemp("structure") / "cmcm.cif"
    cmcm_structure().to(filename=str(path))
    return path


def test_structure_file_report(cmcm_cif, capsys):
    assert analyze(cmcm_cif, "--volume-per-atom-a3", 2.156) == 0
    out = cmcm_cif.parent / "cmcm_analysis"
    report = json.loads((out / "analysis.json").read_text())
    assert report["space_group_number"] == 63 and report["space_group_symbol"] == "Cmcm"
    assert report["wyckoff"] == {"8g": 4}
    assert report["molecule_centre_wyckoff"] == {"4c": 2, "8g": 1}
    assert report["molecule_centres_alone"]["space_group_number"] == 63
    modes = report["modes"]
    assert modes["vibron"] == {"Ag": 3, "B1g": 1, "B2u": 3, "B3u": 1}
    assert modes["acoustic"] == {"B1u": 1, "B2u": 1, "B3u": 1}
    assert set(modes) >= {"translational", "libron", "raman_active", "ir_active"}
    assert modes["raman_active"] == ["Ag", "B1g", "B2g", "B3g"] and modes["ir_active"] == ["B1u", "B2u", "B3u"]
    assert report["xrd"]["volume_per_atom_a3"] == pytest.approx(2.156)
    for name in ("xrd.png", "xrd_peaks.csv", "summary.md", "symmetrized_conventional.cif", "orientation.png"):
        assert (out / name).is_file()
    assert "Cmcm (No. 63)" in capsys.readouterr().out


@pytest.mark.parametrize("file_format, name", [("vasp", "POSCAR"), ("extxyz", "cmcm.xyz")])
def test_other_structure_formats(tmp_path, file_format, name):
    import ase.io

    ase.io.write(str(tmp_path / name), cmcm_crystal().to_ase(), format=file_format)
    assert find_symmetry(read_structure(tmp_path / name), 0.01).number == 63


def test_run_directory_report(tmp_path):
    crystal = cmcm_crystal()
    fractional, lattices = synthetic_samples(crystal, n_samples=60, noise_bohr=0.05, seed=7)
    np.savez(tmp_path / "samples.npz", protons_frac=fractional, lattice_bohr=lattices, numbers=crystal.numbers)
    (tmp_path / "pv.csv").write_text("volume_a3_per_atom,pressure_gpa\n2.0,151\n2.1,136\n2.2,121\n2.3,109\n2.4,98\n")
    assert analyze(tmp_path, "--align", "com", "--eos-csv", tmp_path / "pv.csv") == 0
    out = tmp_path / "analysis"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis", "pv.csv", "samples.npz"]
    report = json.loads((out / "analysis.json").read_text())
    assert report["source"]["kind"] == "run" and report["source"]["n_samples"] == 60
    assert report["space_group_number"] == 63
    assert report["bond_length"]["mean_bohr"] == pytest.approx(1.3992, abs=0.02)
    assert report["orientation"]["integral"] == pytest.approx(1.0)
    assert set(report["eos"]["fits"]) == {"vinet", "birch_murnaghan3"}
    for name in ("mean_structure.cif", "mean_structure_spread.csv", "rdf.csv", "rdf.png", "bond_lengths.csv",
                 "bond_length.png", "orientation.csv", "eos.png", "xrd.png"):
        assert (out / name).is_file()
    assert find_symmetry(read_structure(out / "mean_structure.cif"), 0.1).number == 63


def test_reorienting_molecules_lower_the_default_symprec(tmp_path):
    """In 45 % of the samples every molecule is flipped head to tail: the mean positions of its two
    protons end 0.1 bond lengths apart (< 0.1 A), which spglib cannot tell apart at the default
    tolerance; the analysis lowers it, says so, and still reports the distributions."""
    from qsolid.analysis.molecules import pair_molecules

    crystal = cmcm_crystal()
    pairs = pair_molecules(crystal).pairs
    fractional, lattices = synthetic_samples(crystal, n_samples=200, noise_bohr=0.02, seed=3)
    flipped = np.arange(200) < 90
    swapped = fractional.copy()
    swapped[:, pairs[:, 0]], swapped[:, pairs[:, 1]] = fractional[:, pairs[:, 1]], fractional[:, pairs[:, 0]]
    fractional = np.where(flipped[:, None, None], swapped, fractional)
    np.savez(tmp_path / "samples.npz", protons_frac=fractional, lattice_bohr=lattices, numbers=crystal.numbers)
    assert analyze(tmp_path) == 0
    report = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    assert "symprec lowered" in report["source"]["symprec_note"]
    assert report["symprec_angstrom"] < 0.05
    assert report["bond_length"]["mean_bohr"] == pytest.approx(1.3992, abs=0.02)
    assert "note: mean positions" in (tmp_path / "analysis" / "summary.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["analyze", "/nonexistent/structure.cif"], "path:"),
    (["analyze", "CIF", "--symprec", "-1"], "symprec:"),
    (["analyze", "CIF", "--wavelength-angstrom", "0"], "wavelength_angstrom:"),
])
def test_invalid_input_is_one_line_and_exit_2(cmcm_cif, capsys, argv, message):
    from qsolid.cli import main

    argv = [str(cmcm_cif) if a == "CIF" else a for a in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("qsolid: error: " + message) and "\n" not in error


def _tree(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.mark.parametrize("make_input, argv, message", [
    (lambda d: (d / "pv.csv").write_text("volume_a3_per_atom,pressure_gpa\n2.0,151\n"), ["--eos-csv", "pv.csv"],
     "eos_csv: need at least 4"),
    (lambda d: (d / "pv.csv").write_bytes(bytes(range(256)) * 4), ["--eos-csv", "pv.csv"], "eos_csv: 'pv.csv' is not a CSV"),
    (lambda d: (d / "pv.csv").write_text("volume_a3_per_atom,pressure_gpa\n" + "2.0,nan\n" * 5), ["--eos-csv", "pv.csv"],
     "eos_csv: 'pv.csv' has a non-finite entry"),
    (lambda d: (d / "exp.csv").write_text("v,p\n1,2\n"), ["--experiment-csv", "exp.csv"], "experiment_csv: 'exp.csv' needs"),
    (lambda d: (d / "other.cif").write_text("garbage\n"), ["--compare", "other.cif"], "compare: cannot read 'other.cif'"),
])
def test_failed_analysis_writes_nothing(cmcm_cif, tmp_path, capsys, make_input, argv, message):
    from qsolid.cli import main

    make_input(tmp_path)
    argv = [str(tmp_path / a) if a.endswith((".csv", ".cif")) else a for a in argv]
    before = _tree(tmp_path)
    assert main(["analyze", str(cmcm_cif), "--out", str(tmp_path / "out" / "analysis"), *argv]) == 2
    error = capsys.readouterr().err
    assert error.startswith("qsolid: error: " + message) and error.count("\n") == 1
    assert _tree(tmp_path) == before  # no output folder, no temporary left


def test_unreadable_cif_gives_a_reason(tmp_path, capsys):
    from qsolid.cli import main

    (tmp_path / "garbage.cif").write_text("this is not a CIF\n")
    assert main(["analyze", str(tmp_path / "garbage.cif")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("qsolid: error: path: cannot read 'garbage.cif' as a structure (")
    assert not error.rstrip().endswith("()") and error.count("\n") == 1
    assert _tree(tmp_path) == ["garbage.cif"]


def test_overlapping_atoms_are_named_not_blamed_on_symprec(tmp_path, capsys):
    import ase.io

    from qsolid.analysis.crystal import Crystal
    from qsolid.cli import main

    crystal = cmcm_crystal()
    fractional = crystal.fractional.copy()
    fractional[3] = fractional[1] + 1e-4  # ~0.001 A: below any sensible symprec
    ase.io.write(str(tmp_path / "overlap.xyz"), Crystal(crystal.lattice_bohr, fractional, crystal.numbers).to_ase(),
                 format="extxyz")
    assert main(["analyze", str(tmp_path / "overlap.xyz")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("qsolid: error: path: atoms 1 and 3 of 'overlap.xyz' overlap (0.00")
    assert "symprec" not in error
    assert _tree(tmp_path) == ["overlap.xyz"]
