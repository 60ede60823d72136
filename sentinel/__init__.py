"""Sentinel: a financial-news sentiment monitor.

Nothing heavy is imported here: torch and transformers load only where a model is used.
"""

__version__ = "0.1.0"
