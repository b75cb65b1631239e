from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import KEY

from bulk_tasks.sandbox import Sandbox, SandboxServer


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    """A sandbox over real HTTP on 127.0.0.1 that accepts only the tests' key."""
    with SandboxServer(Sandbox(keys={KEY})) as running:
        yield running
