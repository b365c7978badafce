"""A fix for a hot spot inside Rasa 3.6, found with a profiler (docs/benchmark.md).

Rasa checks every action server response with `jsonschema.validate(result, schema)`. That
call first checks the schema itself against JSON Schema's meta-schema and builds a new
validator, on every response, although the schema never changes: 10-12 % of a Rasa
process's time under load. `install()` makes the check compile the schema once and then
validate each response against it, exactly as strictly as before (an invalid response still
raises `jsonschema.ValidationError`).

Rasa has no plugin hook for this in its open-source edition, so the tracker store, which
Rasa creates from endpoints.yml when it starts, calls `install()`. It changes nothing unless
Rasa is the version it was written and tested against.
"""
from __future__ import annotations

import functools
import logging
from typing import Any

import rasa
from jsonschema import Draft7Validator, ValidationError, exceptions, validators
from rasa.core.actions.action import RemoteAction

logger = logging.getLogger(__name__)

TESTED_RASA = "3.6.21"


@functools.lru_cache(maxsize=1)
def response_validator() -> Draft7Validator:
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    error: ValidationError | None = exceptions.best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += f". The response of action server for '{self.name()}' is not in the format Rasa expects."
    raise error


def install() -> bool:
    """Returns whether the fix is in place."""
    if rasa.__version__ != TESTED_RASA:
        logger.warning("Rasa %s is not %s: its action response check is left as it is.", rasa.__version__, TESTED_RASA)
        return False
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    return True
