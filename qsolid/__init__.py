"""qsolid: neural-network variational Monte Carlo for light-element solids.

Electrons and nuclei are quantum particles in a periodic cell; the lattice enters
only through the Hamiltonian written in fractional coordinates (seed paper,
Eqs. S3-S5). Atomic units everywhere inside the package.

Engines, each a subpackage over the shared core (units, lattice, ewald, structures,
schema, rundir, checkpoint, stats, progress): `qsolid.vmc` (ground state, fixed cell
or constant pressure), `qsolid.nct` (anharmonic phonons), and `qsolid.analysis`.
Importing qsolid changes no global state (JAX precision is set per run).
"""

__version__ = "0.1.0"


def run(config, run_dir, resume: bool = False, progress=None) -> dict | None:
    """A complete VMC run directory from `config` (TOML path or `qsolid.vmc.config.Config`);
    returns summary.json's contents. See `qsolid.vmc.driver.run`."""
    from qsolid.vmc import driver

    return driver.run(config, run_dir, resume=resume, progress=progress)
