"""Wavefunction ansatz: Psi(r, R) = chi(R) phi(r, R) (seed 000, Eq. 2).

All networks are pure functions with explicit parameter pytrees: a builder
returns ``(init, apply)`` closed over the static description of the system,
and ``apply`` is written for one walker (batch added by ``vmap``).
"""
