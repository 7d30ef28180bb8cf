"""Sigma rules over HTTP: list, inspect, enable/disable everywhere, test an event."""
