"""The SDK's version, also the version of the NATS micro service each worker registers."""

__version__ = "0.1.0"
