"""Endpoint templating: cluster concrete URL paths into endpoint templates, online."""

from analyzer.templating.model import PathParam, TemplateMatch, service_name, template_id
from analyzer.templating.settings import TemplaterSettings
from analyzer.templating.templater import Templater
from analyzer.templating.values import classify

__all__ = [
    "PathParam",
    "TemplateMatch",
    "Templater",
    "TemplaterSettings",
    "classify",
    "service_name",
    "template_id",
]
