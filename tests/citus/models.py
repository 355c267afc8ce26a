"""The Citus test models, and twins without any declaration: the same
tables on a plain PostgreSQL, the independent truth results are checked
against."""

from __future__ import annotations

from piccolo.columns import DoublePrecision, ForeignKey, Integer, Varchar
from piccolo.table import Table

from pgext.citus import distributed, reference
from pgext.postgis import Geometry


@reference
class CtCountry(Table):
    code = Varchar(length=2)
    name = Varchar()
    area = Geometry("Polygon", srid=4326, null=True)


@distributed("tenant")
class CtShop(Table):
    tenant = Integer(null=False)
    name = Varchar()
    location = Geometry("Point", srid=4326, index=True)
    country = ForeignKey(CtCountry)


@distributed("tenant", colocate_with=CtShop)
class CtSale(Table):
    tenant = Integer(null=False)
    shop = Integer()
    amount = DoublePrecision()


class PlainCountry(Table):
    code = Varchar(length=2)
    name = Varchar()
    area = Geometry("Polygon", srid=4326, null=True)


class PlainShop(Table):
    tenant = Integer(null=False)
    name = Varchar()
    location = Geometry("Point", srid=4326, index=True)
    country = ForeignKey(PlainCountry)


CITUS_MODELS: tuple[type[Table], ...] = (CtCountry, CtShop, CtSale)
