"""The ground-state engine: variational Monte Carlo of Psi(r, R) = chi(R) phi(r, R) (seed 000).

Periodic features (Eqs. S1-S2) and the wavefunction (`ansatz/`: Alg. 2, Alg. 1 + Eq. 3), the local
energy in fractional coordinates (`hamiltonian`, Eqs. S3, S7), Metropolis and Gibbs block sampling
(`sampling`, Algs. 3-4), the energy gradient with KFAC (`optim`, Eq. 6), constant pressure by
Lundy-Mees annealing (`npt`, Eqs. S4-S5), Hartree-Fock pretraining, training and evaluation, and
`driver.run`, which makes a complete run directory (the CLI's `qsolid run` calls it).
"""
