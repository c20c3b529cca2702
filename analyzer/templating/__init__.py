"""Endpoint templating: cluster concrete URL paths into endpoint templates, online."""

from analyzer.templating.core import PathParam, TemplateMatch, Templater, service_name, template_id
from analyzer.templating.values import classify

__all__ = ["PathParam", "TemplateMatch", "Templater", "classify", "service_name", "template_id"]
