"""Deep variational free energy of dense hydrogen at finite temperature (seed 001).

Classical protons from a normalizing flow p(X) on the torus (qsolid.dvfe.flow,
on a base distribution, qsolid.dvfe.base), with a classical potential V(X) and/or
the electrons of one ensemble wavefunction Psi(r; X) (qsolid.dvfe.electrons), trained
to minimise F = E_p[k_B T ln p + V + E_X] + C.

    from qsolid.dvfe import config, driver
    summary = driver.run(config.load("examples/dvfe_h2_slater_30000k.toml"), "runs/toy")
    summary["free_energy_ha_per_atom"], summary["free_energy_ha_per_atom_error"]
"""
