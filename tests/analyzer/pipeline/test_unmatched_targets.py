"""Class 9: a request line whose target was lost is junk, not an endpoint. "GET /HTTP/1.1" (the
space between target and version lost, as a real capture has it for seven methods) names no
resource; a path that merely holds the word is an endpoint."""

from __future__ import annotations

from analyzer.pipeline.unmatched import malformed


def test_a_version_glued_to_a_lost_target_is_malformed() -> None:
    for method in ("GET", "PUT", "DELETE", "TRACE", "HEAD", "CONNECT"):
        assert malformed(method, "/HTTP/1.1", "/HTTP/1.1")
        assert malformed(method, "/HTTP/1.0?x=1", "/HTTP/1.0")
    assert malformed("GET", "HTTP/1.1", "HTTP/1.1")


def test_paths_with_the_word_are_endpoints() -> None:
    assert not malformed("GET", "/docs/HTTP/overview", "/docs/HTTP/overview")
    assert not malformed("GET", "/rfc/HTTP-1.1.html", "/rfc/HTTP-1.1.html")
    assert not malformed("GET", "/", "/")
    assert not malformed("CONNECT", "example.com:443", "")  # authority-form: noise statistics
