"""Fixtures of the Citus tests live in tests/conftest.py (the docs' examples
use the cluster too): ``citus``/``citus_config`` is a single-node cluster,
``citus3``/``citus3_config`` a coordinator with two workers.  Results are
checked against an independent truth: the same query on a plain table of
the PostGIS server (``pg_engine``)."""
