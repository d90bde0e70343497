"""Measuring a host (or a lab guest) to build a hardware profile."""
