"""Harmonic thermodynamics of independent modes: the baseline every run reports.

F(T) = sum_k [omega_k / 2 + T ln(1 - e^{-omega_k / T})],
S/k_B = sum_k [x_k / (e^{x_k} - 1) - ln(1 - e^{-x_k})], x_k = omega_k / T,
E(T) = sum_k omega_k [1/2 + 1/(e^{x_k} - 1)], ZPE = sum_k omega_k / 2
(hbar = k_B = 1; seed 003, Fig. 2 caption). The ``levels`` variants keep only
the lowest K levels of each mode, the exact answer for the level cutoff of
the variational occupations, so a run can separate cutoff and sampling errors.
T = 0 is allowed and gives the ground state.
"""

import numpy as np


def zero_point_energy(frequencies) -> float:
    return float(0.5 * np.sum(frequencies))


def free_energy(frequencies, temperature: float) -> float:
    omega = np.asarray(frequencies, dtype=np.float64)
    if temperature == 0.0:
        return zero_point_energy(omega)
    return float(np.sum(0.5 * omega + temperature * np.log1p(-np.exp(-omega / temperature))))


def entropy(frequencies, temperature: float) -> float:
    """S / k_B."""
    if temperature == 0.0:
        return 0.0
    x = np.asarray(frequencies, dtype=np.float64) / temperature
    return float(np.sum(x / np.expm1(x) - np.log1p(-np.exp(-x))))


def energy(frequencies, temperature: float) -> float:
    omega = np.asarray(frequencies, dtype=np.float64)
    if temperature == 0.0:
        return zero_point_energy(omega)
    return float(np.sum(omega * (0.5 + 1.0 / np.expm1(omega / temperature))))


def free_energy_levels(frequencies, temperature: float, levels: int) -> float:
    """-T ln Z with Z_k = sum_{n < levels} exp(-(n + 1/2) omega_k / T)."""
    omega = np.asarray(frequencies, dtype=np.float64)
    if temperature == 0.0:
        return zero_point_energy(omega)
    n = np.arange(levels)
    log_z = np.log(np.sum(np.exp(-n[None, :] * omega[:, None] / temperature), axis=1))
    return float(np.sum(0.5 * omega - temperature * log_z))
