"""Tenant-scoped object storage."""
