"""Customer and agent text made storable. PostgreSQL refuses NUL in text and neither database
(nor any JSON encoder to UTF-8) can keep a lone surrogate, so text from the public edge passes
through `clean` before it is stored or routed: nothing the customer meant is lost."""
from __future__ import annotations

import re

# C0 controls and DEL, except tab and newline (carriage returns become newlines first).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean(text: str) -> str:
    """NUL and other control characters removed, lone surrogates replaced by U+FFFD."""
    if text.isprintable():  # the usual message: one C-level scan, no copies
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATES.sub(REPLACEMENT, _CONTROLS.sub("", text))


def has_forbidden(text: str) -> bool:
    """True for text that cannot be stored as it is (NUL or a lone surrogate): what the
    edge refuses in URLs and header-like fields instead of cleaning."""
    return "\x00" in text or _SURROGATES.search(text) is not None
