"""Thin HTTP routers: validation and status codes here, queries in ``inventory_api.crud``."""
