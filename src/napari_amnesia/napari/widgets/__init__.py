"""Dock widgets: thin, scriptable by parameter name (``w.eight_neighbours.value = False; w.run()``)."""
