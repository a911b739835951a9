"""Logs captured in memory, to read back as JSON records."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field


@dataclass
class CapturedLogs:
    stream: io.StringIO = field(default_factory=io.StringIO)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text.splitlines()]
