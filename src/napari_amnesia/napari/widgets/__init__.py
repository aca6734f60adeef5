"""Dock widgets: thin, and scriptable by parameter name.

Example: ``w.eight_neighbours.value = False; w.run()``.
"""
