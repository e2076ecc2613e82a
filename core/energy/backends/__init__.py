"""Energy backends, one per hardware boundary, behind :class:`base.EnergyBackend`."""
