"""Benchmarks of the tradepipe pipeline: ingest and dbt build at several scales (see README.md)."""
