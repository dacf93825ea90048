"""tradeforge: research, test and trade strategies with one deterministic engine."""

__version__ = "0.1.0"
