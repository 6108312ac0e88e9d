"""srloss: which loss function should I train my super-resolution model with?"""

__version__ = "0.1.0"
