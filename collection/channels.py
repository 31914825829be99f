"""Channel backends: how an outbox row leaves the platform.

`settings.MESSAGE_BACKENDS` maps each channel (`sms`, `inbox`) to a class
path. The demo logs SMS to the console; production posts them to an HTTP
gateway. A backend raises `TransientSendError` for a failure worth trying
again (timeouts, 5xx) and `PermanentSendError` for one that is not.
"""

import http.client
import json
import logging
import urllib.error
import urllib.request
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from collection.models import Message

logger = logging.getLogger(__name__)


class TransientSendError(Exception):
    pass


class PermanentSendError(Exception):
    pass


class Backend(Protocol):
    def send(self, message: Message, *, to: str) -> None: ...


def backend(channel: str) -> Backend:
    path = settings.MESSAGE_BACKENDS[channel]
    instance: Backend = import_string(path)()
    return instance


class ConsoleBackend:
    """The demo's SMS: a log line naming the message, never the number."""

    def send(self, message: Message, *, to: str) -> None:
        logger.info(
            "Message %s: %s to the %s: %s",
            message.pk,
            message.purpose,
            message.audience,
            message.body,
        )


class InboxBackend:
    """The borrower's in-app inbox reads the outbox row itself."""

    def send(self, message: Message, *, to: str) -> None:
        return None


class HttpSmsBackend:
    """Posts `{to, text, reference}` as JSON to `SMS_GATEWAY_URL`.

    The reference is the message's dedupe key, so a gateway that received a
    request whose answer was lost drops the repeat.
    """

    def send(self, message: Message, *, to: str) -> None:
        payload = json.dumps(
            {"to": to, "text": message.body, "reference": message.dedupe_key}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (the URL is our setting)
            settings.SMS_GATEWAY_URL,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {settings.SMS_GATEWAY_TOKEN}",
                "Idempotency-Key": message.dedupe_key,
            },
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=settings.SMS_GATEWAY_TIMEOUT
            ) as response:
                response.read()
        except urllib.error.HTTPError as error:
            if error.code >= 500 or error.code == 429:
                raise TransientSendError(f"gateway answered {error.code}") from error
            raise PermanentSendError(f"gateway answered {error.code}") from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise TransientSendError(f"gateway unreachable: {error}") from error
        except http.client.HTTPException as error:
            # A broken answer: the request may have arrived, so it is tried
            # again with the same reference for the gateway to drop.
            raise TransientSendError(
                f"gateway answered badly: {type(error).__name__}"
            ) from error
