"""The built-in reasoning testbed: generated problems (and, later, a tiny model that over-thinks)."""
