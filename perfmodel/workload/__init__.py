"""Workload processes, access patterns and page content."""
