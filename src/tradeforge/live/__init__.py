"""Live and paper trading at the edge of the system: the runner (warm-up, then live bars), the ccxt gateway and
feed, the paper gateway, reconciliation with the venue, and ``tradeforge.live.simulator``, a local exchange on
127.0.0.1 that speaks binance's REST and websocket API so all of it can be rehearsed and tested offline.
"""
