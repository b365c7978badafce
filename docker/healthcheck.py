"""`python docker/healthcheck.py URL`: exit 0 when URL answers 200 within 5 seconds, else 1.

The images are python:3.10-slim, which has no curl or wget, so the compose health checks run
this with the Python each image already has. Only the standard library: it runs in both the
app's and Rasa's environment."""
from __future__ import annotations

import sys
import urllib.error
import urllib.request


def healthy(url: str, timeout: float = 5.0) -> bool:
    """Whether `url` answers 200: a process that accepts connections but errors is not up."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python docker/healthcheck.py URL")
    sys.exit(0 if healthy(sys.argv[1]) else 1)


if __name__ == "__main__":
    main()
