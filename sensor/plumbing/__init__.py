"""Plumbing every part shares, at the bottom layer: JSON logs and Prometheus metrics (``obs``),
the shipped-batch wire format and its NATS subjects (``wire``), and ``HOST:PORT`` parsing
(``bind``).

Importing any of it loads no capture code (``sensor.engine``, ``tcp``, ``decode``...): the
analyzer and the inventory service import it too (tests/sensor/plumbing/test_light.py).
"""
