"""Forest-loss detection over satellite tiles: readers, a distilled CNN, batch jobs, hectares, CO2."""
