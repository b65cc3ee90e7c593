"""notebridge worker SDK."""

__version__ = "0.1.0"
