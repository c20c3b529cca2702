"""Inventory REST service (issue 4): not built yet."""
