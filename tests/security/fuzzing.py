"""Hypothesis strategies for hostile input, and a way to drive the async gateway from a
hypothesis test: the property runs in a worker thread and hands each request to the test's
event loop, where the aiohttp test client lives."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

T = TypeVar("T")
SPEC = json.loads((Path(__file__).resolve().parents[2] / "bot" / "openapi.json").read_text(encoding="utf-8"))

# Fixed seed, no example database: the same inputs on every machine, so CI is stable.
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

NASTY = ["\x00", "\ud800", "\udfff", "\ud83d", "\x1b", "\r", "\x7f", "\u2028", "\u202e", "\ufeff", "😀", "é",
         "'", '"', "\\", "%", "%00", "/", "..", "<script>", "${x}", "\n"]
# Any code point (surrogates included), with the nastiest ones often.
hostile_text = st.lists(st.one_of(st.characters(), st.sampled_from(NASTY)), max_size=30).map("".join) | \
    st.sampled_from(["", " ", "\x00", "a" * 3000, "ü" * 2001, "x\x00y", "\ud800", "-1", "0", "1e309", "NaN"])
# What a URL or a form can carry: no surrogates (they cannot be encoded), NUL very much so.
URL_NASTY = ["\x00", "%", "/", "?", "#", "&", "=", "..", "\x00\x00", "ü", "+", " "]
url_text = st.lists(st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(URL_NASTY)),
                    max_size=12).map("".join) | st.sampled_from(["\x00", "CD-100001\x00", "open\x00", "c_\x00", "1\x00"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=8,
)


def dumps(value: Any) -> str:
    """JSON as a client would send it; lone surrogates become \\udXXX escapes."""
    return json.dumps(value, ensure_ascii=True)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid values for a (small) OpenAPI schema, half the time, and hostile ones otherwise."""
    schema = _resolve(schema)
    if "enum" in schema:
        valid: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
    elif schema.get("type") == "integer":
        valid = st.integers(schema.get("minimum", -(2**63)), schema.get("maximum", 2**63))
    elif schema.get("type") == "object":
        valid = st.fixed_dictionaries({k: from_schema(v) for k, v in schema.get("properties", {}).items()})
    else:
        valid = st.text(max_size=20)
    return st.one_of(valid, url_text, url_text, st.integers().map(str))


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


@st.composite
def api_requests(draw: st.DrawFn) -> tuple[str, str, str | None]:
    """(method, raw URL, body) for one of the described operations, or a path beside them."""
    operations = [(path, method, op, item.get("parameters", []))
                  for path, item in SPEC["paths"].items() for method, op in item.items() if method != "parameters"]
    path, method, operation, shared = draw(st.sampled_from(operations))
    url = path
    query: list[str] = []
    for parameter in shared + operation.get("parameters", []):
        value = str(draw(from_schema(parameter["schema"])))
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", quote(value, safe="") or "x")
        elif draw(st.booleans()):
            query.append(f"{quote(parameter['name'])}={quote(value, safe='')}")
    if draw(st.integers(0, 9)) == 0:
        url += "/" + quote(draw(url_text), safe="")
    if draw(st.integers(0, 9)) == 0:
        query.append(quote(draw(url_text), safe="") + "=" + quote(draw(url_text), safe=""))
    body = None
    if "requestBody" in operation:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        body = draw(st.one_of(from_schema(schema).map(dumps), json_values.map(dumps), st.just("{"), st.just("")))
    return method.upper(), url + ("?" + "&".join(query) if query else ""), body


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine on the test's loop from the hypothesis thread and wait for its result."""
    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    return run
