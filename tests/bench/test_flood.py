"""The flood case's own logic: each customer its own address (never the flooder's), the
blocks, and the verdict against the 25 % target."""
import pytest

from bench.flood import FLOODER, TARGET_RATIO, blocks, customer_address, verdict
from bench.report import markdown, targets


def test_every_customer_has_its_own_address_apart_from_the_flooder() -> None:
    addresses = [customer_address(i) for i in range(300)]
    assert len(set(addresses)) == 300
    assert FLOODER not in addresses and "127.0.0.1" not in addresses
    assert all(a.startswith("127.") and 0 < int(a.rsplit(".", 1)[1]) < 255 for a in addresses)
    with pytest.raises(ValueError):
        customer_address(-1)


def test_blocks_split_the_measured_time() -> None:
    assert blocks(40) == (2, 20.0)
    assert blocks(5) == (1, 5.0)


def figures(p95: float, errors: int = 0) -> dict:
    return {"p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 1.2, "messages": 100, "answered": 100 - errors,
            "errors": errors, "customers": 50, "think_seconds": 3.0, "blocks": 2}


def test_the_verdict_is_the_p95_ratio_and_no_customer_refused() -> None:
    assert verdict(figures(200), figures(240)) == {"p95_ratio": 1.2, "target_ratio": TARGET_RATIO, "met": True}
    assert not verdict(figures(200), figures(260))["met"]
    assert not verdict(figures(200), figures(210, errors=1))["met"], "a refused customer is a miss"


def test_the_report_shows_the_flood_case() -> None:
    flood = {"quiet": figures(200), "flood": figures(220), "flooder": {"sockets": 900, "sockets_refused": 870},
             "layout": "2 Rasa processes", "limits_in": "redis", **verdict(figures(200), figures(220))}
    [target] = [t for t in targets({"flood": flood}) if "floods" in t.name]
    assert target.status == "met" and "×1.10" in target.value
    assert "900 sockets (870 refused" in markdown({"timestamp": "t", "flood": flood})
    [missing] = [t for t in targets({}) if "floods" in t.name]
    assert missing.status == "not measured"
