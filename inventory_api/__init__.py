"""Inventory REST service (issue 4): the analyzer's inventory over HTTP, behind API keys.

``create_app(settings)`` builds the FastAPI application; ``apicensus serve`` runs it under uvicorn
and ``apicensus keys create`` issues keys. Heavy imports stay out of this module so the console
dispatcher (which imports ``inventory_api.cli``) stays fast.
"""
