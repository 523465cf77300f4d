"""Vendor adapters (httpx), their common protocol and the vendor simulator."""
