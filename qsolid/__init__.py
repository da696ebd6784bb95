"""qsolid: neural-network variational Monte Carlo for light-element solids.

Electrons (and, later, nuclei) are quantum particles in a periodic cell; the
lattice enters only through the Hamiltonian written in fractional coordinates
(seed paper, Eqs. S3-S5). Atomic units everywhere inside the package.
"""

__version__ = "0.1.0"
