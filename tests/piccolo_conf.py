"""Piccolo configuration used by tests that go through ``engine_finder``
(migrations, the piccolo CLI).  The conftest sets the DSN before this module
is first imported; never import it at a test module's top level."""

import os

from piccolo.conf.apps import AppRegistry

from pgext.engine import PgextEngine
from pgext.harness.servers import dsn_config

DB = PgextEngine(
    config=dsn_config(os.environ["PGEXT_TEST_CONF_DSN"]),
    extensions=("postgis",),
)

APP_REGISTRY = AppRegistry(apps=[])
