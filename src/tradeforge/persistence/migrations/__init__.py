"""Alembic migrations of the tradeforge schema, shipped inside the package so that migrate(url) works from an
installed tradeforge (see persistence/migrate.py).

To change the schema: edit tables.py, then write the next revision in versions/ (a frozen copy: never import
tables.py there), e.g. from a developer checkout with a database at the current head:

    from alembic import command
    from tradeforge.persistence.migrate import alembic_config
    command.revision(alembic_config("sqlite:////tmp/dev.db"), message="what changed", autogenerate=True,
                     rev_id="0003")

then review the generated file (SQLite alters tables in batch mode; name every constraint and index as tables.py's
naming convention does). test_persistence_migrations fails until the models and the migrations agree.
"""
