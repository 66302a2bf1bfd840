"""The store's schema versions (Alembic, D-OPS-4), applied by `engine.store.migrate.upgrade`.

Each file in ``versions/`` is one step: ``0001`` is the schema of the first release (what its
``create_all`` made, unversioned), later ones change it in place. A change to
`engine.store.tables` goes with a new step here; `tests/integration/test_store_migrations.py`
checks that the steps end where `tables.py` is.
"""
