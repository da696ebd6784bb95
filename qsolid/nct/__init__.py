"""Neural canonical transformations (NCT) for anharmonic quantum solids.

Seed 003 (Zhang et al., arXiv:2412.12451): the vibrational density matrix
rho = sum_n p_n |Psi_n><Psi_n| (Eq. 3) with Psi_n = U_theta Phi_n built by a
normalizing flow on phonon coordinates (Eq. 6) and a product distribution of
phonon occupations, optimised by minimising the free energy F (Eq. 4).

Units: Hartree atomic units inside (hbar = m_e = k_B = 1, bohr, Ha); model
potentials are dimensionless (hbar = m = k_B = 1, which is the same thing
with unit masses). Conversions to eV, angstrom and kelvin happen only where a
surface or a report meets the user, through :mod:`qsolid.units`.

The Python API in a few lines::

    from qsolid.nct import config, driver
    cfg = config.load("examples/nct_quartic2d_beta1.toml")
    summary = driver.run(cfg, "runs/quartic2d")

Precision is a per-run setting (top-level ``precision``, float64 by default):
``driver.run`` applies it for the duration of the run through
:func:`qsolid.precision.use`; importing this package changes no JAX flag.
Functions called outside a run compute in the caller's precision (wrap them
in ``with qsolid.precision.use("float64"):`` for the documented accuracy).
"""
