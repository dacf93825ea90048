"""The pure, deterministic domain: no I/O, no wall clock, no pandas."""
