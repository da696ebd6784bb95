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
    report = json.loads((tmp_path / "analysis.json").read_text())
    assert report["source"]["kind"] == "run" and report["source"]["n_samples"] == 60
    assert report["space_group_number"] == 63
    assert report["bond_length"]["mean_bohr"] == pytest.approx(1.3992, abs=0.02)
    assert report["orientation"]["integral"] == pytest.approx(1.0)
    assert set(report["eos"]["fits"]) == {"vinet", "birch_murnaghan3"}
    for name in ("mean_structure.cif", "mean_structure_spread.csv", "rdf.csv", "rdf.png", "bond_lengths.csv",
                 "bond_length.png", "orientation.csv", "eos.png", "xrd.png"):
        assert (tmp_path / name).is_file()
    assert find_symmetry(read_structure(tmp_path / "mean_structure.cif"), 0.1).number == 63


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
    report = json.loads((tmp_path / "analysis.json").read_text())
    assert "symprec lowered" in report["source"]["symprec_note"]
    assert report["symprec_angstrom"] < 0.05
    assert report["bond_length"]["mean_bohr"] == pytest.approx(1.3992, abs=0.02)
    assert "note: mean positions" in (tmp_path / "summary.md").read_text()


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
