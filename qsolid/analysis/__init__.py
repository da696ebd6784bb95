"""Structure analysis and experimental signatures of sampled or given crystals.

crystal       the Crystal type and structure-file reading (ASE)
samples       samples.npz of a run and the mean structure (free translation removed)
geometry      minimum-image vectors and the inscribed radius
symmetry      space group, Wyckoff sites, standardized cells (spglib)
molecules     pairing protons into H2 molecules, with a sanity report
point_groups  character tables of the 32 point groups with Mulliken labels
modes         Gamma-point acoustic/translational/libron/vibron modes, IR and Raman activity
xrd           powder patterns (pymatgen) at a chosen wavelength and volume
rdf           g(r) and bond-length distributions
orientation   g(theta, phi) of bond vectors
eos           Vinet and Birch-Murnaghan fits
plots         PNG figures
report        the whole analysis written to a directory (`qsolid analyze`)
"""
