"""smartmining: a reproducible replication of "Smart Mining for Deep Metric Learning" (Harwood et al., ICCV 2017)."""

__version__ = "0.1.0"
