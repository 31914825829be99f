"""A channel backend for tests: it records each send instead of sending.

In-process tests read `RecordingBackend.sent`. A Celery worker started by a
test has memory of its own, so when the environment variable named by
`RECORD_FILE_ENV` holds a path, each send is also appended to that file as
a JSON line, which the test reads with `recorded_in`.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from collection.models import Message

PATH = "tests.collection.recording_backend.RecordingBackend"
RECORD_FILE_ENV = "RECORDING_BACKEND_FILE"


@dataclass(frozen=True)
class Sent:
    message_id: int
    reference: str
    to: str
    body: str


class RecordingBackend:
    sent: ClassVar[list[Sent]] = []

    def send(self, message: Message, *, to: str) -> None:
        record = Sent(message.pk, message.dedupe_key, to, message.body)
        self.sent.append(record)
        path = os.environ.get(RECORD_FILE_ENV)
        if path:
            with Path(path).open("a", encoding="utf-8") as file:
                file.write(json.dumps(asdict(record)) + "\n")


def recorded_in(path: Path) -> list[Sent]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Sent(**json.loads(line)) for line in lines if line]
