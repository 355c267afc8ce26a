"""Distance and Area: units, conversions, arithmetic, refusals (no database)."""

from __future__ import annotations

import math

import pytest

from pgext.errors import InvalidValue
from pgext.postgis.measure import Area, D, Distance, InvalidUnit
from pgext.postgis.query_errors import UnknownSRIDUnits
from pgext.postgis.sql import (
    distance_strategy,
    parse_srtext,
    register_srid_units,
    srid_units,
)


def test_units_convert() -> None:
    assert D(km=5).m == 5000
    assert D(mi=1).km == pytest.approx(1.609344)
    assert D(ft=3) == D(yd=1)
    assert D(nm=1).m == 1852
    assert D(m=1852).nm == pytest.approx(1)
    assert D(kilometres=2) == D(km=2)
    assert D(km=1, m=500).m == 1500
    assert D(mi=1).to("ft") == pytest.approx(5280)
    assert Area(sq_km=1).sq_m == 1_000_000
    assert Area(ha=1).acre == pytest.approx(2.4710538)
    assert Area(sq_mi=1).sq_km == pytest.approx(2.589988)
    assert Area(sq_ft=9) == Area(sq_yd=1)


def test_arithmetic_and_comparisons() -> None:
    assert D(km=1) + D(m=500) == D(m=1500)
    assert D(km=1) - D(m=500) == D(m=500)
    assert D(m=2) * 3 == D(m=6)
    assert 3 * D(m=2) == D(m=6)
    assert D(m=6) / 3 == D(m=2)
    assert D(km=1) / D(m=250) == 4
    assert D(m=3) * D(m=2) == Area(sq_m=6)
    assert Area(sq_m=6) / D(m=2) == D(m=3)
    assert -D(m=1) == D(m=-1) and abs(D(m=-1)) == D(m=1)
    assert D(km=1) > D(m=999) and D(m=999) < D(km=1) and D(km=1) >= D(m=1000)
    assert sorted([D(mi=1), D(km=1), D(ft=1)]) == [D(ft=1), D(km=1), D(mi=1)]
    assert D(m=0.1 + 0.2) == D(m=0.3)  # float noise does not break equality
    assert not D(m=0) and bool(D(m=1))
    assert float(D(km=1)) == 1000.0
    assert repr(D(km=1)) == "Distance(m=1000.0)"
    assert Distance is D
    assert hash(D(km=1)) == hash(D(m=1000))
    assert D(m=1) != Area(sq_m=1)


def test_refusals() -> None:
    with pytest.raises(InvalidUnit, match="unknown distance unit 'furlong'"):
        D(furlong=1)
    with pytest.raises(InvalidUnit, match="unknown area unit"):
        Area(km=1)
    with pytest.raises(InvalidUnit, match="needs a size"):
        D()
    with pytest.raises(InvalidUnit, match="must be a number"):
        D(m="5")
    with pytest.raises(InvalidUnit, match="must be a number"):
        D(m=True)
    with pytest.raises(InvalidUnit, match="finite"):
        D(m=math.inf)
    with pytest.raises(TypeError):
        D(m=1) + Area(sq_m=1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        assert D(m=1) < Area(sq_m=1)  # type: ignore[operator]
    with pytest.raises(AttributeError):
        D(m=1).parsec  # noqa: B018
    assert issubclass(InvalidUnit, InvalidValue)


class _Col:
    def __init__(self, srid: int, is_geography: bool = False) -> None:
        self.srid = srid
        self.is_geography = is_geography


def test_distance_strategy_per_column_kind() -> None:
    geography = distance_strategy(_Col(4326, True))
    assert geography.cast is None and geography.distance(D(km=1)) == 1000
    lonlat = distance_strategy(_Col(4326))
    assert lonlat.cast == "geography" and lonlat.distance(D(km=1)) == 1000
    mercator = distance_strategy(_Col(3857))
    assert mercator.cast is None and mercator.distance(D(km=1)) == 1000
    assert mercator.distance(250) == 250  # a plain number: the SRID's unit
    with pytest.raises(UnknownSRIDUnits, match="load_srid_units"):
        distance_strategy(_Col(2249))  # MA state plane ftUS: never loaded by tests
    with pytest.raises(UnknownSRIDUnits):
        distance_strategy(_Col(0))
    with pytest.raises(InvalidUnit):
        mercator.distance(Area(sq_m=1))  # type: ignore[arg-type]


def test_srid_units_from_srtext_and_registration() -> None:
    # NAD83 / New York Long Island (ftUS), abridged srtext.
    srtext = (
        'PROJCS["NAD83 / New York Long Island (ftUS)",GEOGCS["NAD83",'
        'UNIT["degree",0.0174532925199433]],PROJECTION["Lambert"],'
        'UNIT["US survey foot",0.304800609601219]]'
    )
    info = parse_srtext(999_001, srtext)
    assert not info.geographic
    assert info.metres_per_unit == pytest.approx(0.3048006096)
    assert parse_srtext(999_002, 'GEOGCS["WGS 84",UNIT["degree",0.01]]').geographic
    register_srid_units(999_003, "survey_ft")
    strategy = distance_strategy(_Col(999_003))
    assert strategy.distance(D(m=0.3048006096012192)) == pytest.approx(1)
    assert srid_units(999_003).unit == "survey_ft"
    register_srid_units(999_004, geographic=True)
    assert distance_strategy(_Col(999_004)).cast == "geography"
    with pytest.raises(InvalidUnit):
        register_srid_units(999_005, "parsec")
