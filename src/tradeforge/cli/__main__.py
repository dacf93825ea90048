"""`python -m tradeforge.cli` runs the `tradeforge` command."""

from tradeforge.cli.app import main

main()
