"""Hartree-Fock pressure of the 8-atom Pa-3 H2 cell: Gamma point vs k-point meshes.

The VMC cell of the constant-pressure validation (examples/h2_crystal_130gpa_npt.toml) is sampled
at the Gamma point only. This script measures how far that one-body sampling moves the pressure:
periodic HF (pyscf.pbc KRHF, exxdiv='ewald', Gaussian density fitting) at volumes V(1 +- h) around
each requested volume, P = -dE/dV by central differences, for k-meshes n x n x n (centred at Gamma,
or at a twist (t, t, t) to test a single twisted boundary condition).

    python benchmarks/finite_size_hf.py --volumes 14.55 19.0 --meshes 1 2 3 --basis 6-31g
"""

import argparse
import time

from pyscf.pbc import gto, scf

from qsolid.structures import pa3
from qsolid.units import GPA_PER_HA_BOHR3


def hf_energy_per_atom(volume_per_atom_bohr3, bond_length_bohr, mesh, basis, twist):
    a = (8 * volume_per_atom_bohr3) ** (1.0 / 3.0)
    lattice, fractional = pa3(a, bond_length_bohr)
    cell = gto.Cell()
    cell.atom = [("H", tuple(f @ lattice)) for f in fractional]
    cell.a = lattice
    cell.unit = "bohr"
    cell.basis = basis
    cell.verbose = 0
    cell.build()
    kpts = cell.make_kpts([mesh] * 3, scaled_center=[twist] * 3)
    mf = scf.KRHF(cell, kpts, exxdiv="ewald").density_fit()
    mf.conv_tol = 1e-10
    return mf.kernel() / 8


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=float, nargs="+", default=[14.55, 19.0], help="bohr^3/atom")
    parser.add_argument("--meshes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--basis", default="6-31g")
    parser.add_argument("--bond-length-bohr", type=float, default=1.40)
    parser.add_argument("--twist", type=float, default=0.0, help="mesh centre, (t, t, t) in reciprocal units")
    parser.add_argument("--step", type=float, default=0.02, help="relative volume step h")
    args = parser.parse_args()
    print("volume_bohr3_per_atom mesh energy_per_atom_ha pressure_gpa seconds")
    for volume in args.volumes:
        for mesh in args.meshes:
            start = time.perf_counter()
            lower, centre, upper = (
                hf_energy_per_atom(volume * (1 + s * args.step), args.bond_length_bohr, mesh, args.basis, args.twist)
                for s in (-1, 0, 1)
            )
            pressure = -(upper - lower) / (2 * args.step * volume) * GPA_PER_HA_BOHR3
            print(f"{volume:.3f} {mesh} {centre:.6f} {pressure:.1f} {time.perf_counter() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
