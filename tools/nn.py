"""The original regrad's ``tools.nn``: the classes of ``regrad.nn``."""
from regrad.nn import Cell, Neuron, Layer, MLP

__all__ = ["Cell", "Neuron", "Layer", "MLP"]
