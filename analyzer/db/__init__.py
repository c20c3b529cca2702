"""Analyzer storage: models, engine/session helpers, migrations runner and CRUD functions."""
