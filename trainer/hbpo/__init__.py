"""hbpo: Hierarchical Budget Policy Optimization trainer (HBPO Studio)."""

__version__ = "0.1.0"
