"""The `tradeforge` command line: backtests, the demo, samples and the `data` commands."""

from tradeforge.cli.app import app, main

__all__ = ["app", "main"]
