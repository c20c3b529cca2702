"""Endpoint templating: cluster concrete URL paths into endpoint templates, online."""

from analyzer.templating.core import PathParam, TemplateMatch, Templater, template_id
from analyzer.templating.values import classify

__all__ = ["PathParam", "TemplateMatch", "Templater", "classify", "template_id"]
