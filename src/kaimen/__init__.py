"""kaimen: credit and trust scoring that the people it scores can see, understand and contest."""

__version__ = "0.1.0"
