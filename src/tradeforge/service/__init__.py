"""Use cases called by the CLI (and later the API): they wire data, engine, metrics and reports."""
