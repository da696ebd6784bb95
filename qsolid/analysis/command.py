"""`qsolid analyze PATH`: structure, symmetry, XRD, distributions, Raman/IR and EOS of a run or structure."""

import math
from pathlib import Path

from qsolid.analysis.samples import ALIGNMENTS
from qsolid.analysis.symmetry import DEFAULT_SYMPREC_FILE_ANGSTROM, DEFAULT_SYMPREC_SAMPLES_ANGSTROM
from qsolid.analysis.xrd import DEFAULT_WAVELENGTH_ANGSTROM
from qsolid.schema import require


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="analyse a run directory (samples.npz) or a structure file (CIF, POSCAR, extended XYZ)",
        description="Mean structure, space group and Wyckoff sites, H2 molecules, Gamma-point Raman/IR modes, "
                    "powder XRD, g(r), bond-length and orientation distributions, equation of state. "
                    "Writes analysis.json, CSV tables, PNG plots and summary.md.",
    )
    parser.add_argument("path", type=Path, help="run directory, samples .npz, or structure file")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: RUN_DIR/analysis/, or <stem>_analysis/ next to a file); "
                             "written only when the whole analysis succeeds")
    parser.add_argument("--symprec", type=float, default=None, metavar="ANGSTROM",
                        help=f"spglib tolerance in angstrom (default {DEFAULT_SYMPREC_SAMPLES_ANGSTROM} for sampled "
                             f"means, {DEFAULT_SYMPREC_FILE_ANGSTROM} for structure files)")
    parser.add_argument("--wavelength-angstrom", type=float, default=DEFAULT_WAVELENGTH_ANGSTROM,
                        help=f"X-ray wavelength (default {DEFAULT_WAVELENGTH_ANGSTROM}, a typical high-pressure "
                             "synchrotron value)")
    parser.add_argument("--volume-per-atom-a3", type=float, default=None,
                        help="rescale the cell to this volume per atom before XRD (e.g. 2.156, experiment at 130 GPa)")
    parser.add_argument("--align", choices=ALIGNMENTS, default="first",
                        help="remove the free translation by the first proton (paper) or the centre of mass")
    parser.add_argument("--eos-csv", type=Path, default=None,
                        help="(P, V) points to fit: columns volume_a3_per_atom, pressure_gpa[, pressure_err_gpa]")
    parser.add_argument("--experiment-csv", type=Path, default=None,
                        help="experimental (P, V) points for the EOS plot, same columns")
    parser.add_argument("--compare", type=Path, nargs="*", default=(),
                        help="structure files whose XRD patterns are overlaid")
    parser.set_defaults(func=run)


def run(args) -> int:
    from qsolid.analysis import report as report_module

    require(args.symprec is None or 0 < args.symprec < math.inf, "symprec",
            f"must be a positive number, got {args.symprec}")
    require(0 < args.wavelength_angstrom < math.inf, "wavelength_angstrom",
            f"must be a positive number, got {args.wavelength_angstrom}")
    require(args.volume_per_atom_a3 is None or 0 < args.volume_per_atom_a3 < math.inf, "volume_per_atom_a3",
            f"must be a positive number, got {args.volume_per_atom_a3}")
    options = report_module.AnalysisOptions(
        symprec_angstrom=args.symprec,
        wavelength_angstrom=args.wavelength_angstrom,
        volume_per_atom_a3=args.volume_per_atom_a3,
        align=args.align,
        eos_csv=args.eos_csv,
        experiment_csv=args.experiment_csv,
        compare=tuple(args.compare),
    )
    out = args.out if args.out is not None else report_module.default_output_directory(args.path)
    result = report_module.analyze(args.path, out, options)
    modes = result["modes"]
    print(f"space group {result['space_group_symbol']} (No. {result['space_group_number']}), "
          f"symprec {result['symprec_angstrom']} angstrom")
    print(f"Wyckoff sites {result['wyckoff']}; molecular centres {result['molecule_centre_wyckoff'] or 'n/a'}")
    print(f"Gamma-point modes ({modes['point_group_schoenflies']}):")
    for row in report_module.ROWS:
        print(f"  {row:13s} {modes['formatted'][row]}")
    print(f"  Raman-active irreps {' '.join(modes['raman_active'])}; IR-active {' '.join(modes['ir_active'])}")
    print(f"wrote {out / 'analysis.json'} and {len(result['files'])} tables/plots")
    return 0
