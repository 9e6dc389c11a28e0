"""The exception tree and what every exception carries."""

from __future__ import annotations

import pytest

from shared.vtpass import (
    CustomerNotFound,
    VTPassAuthError,
    VTPassError,
    VTPassMaybeSent,
    VTPassNotSent,
    VTPassRejected,
    VTPassResponseError,
    VTPassTransportError,
)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (VTPassTransportError, VTPassError),
        (VTPassNotSent, VTPassTransportError),
        (VTPassMaybeSent, VTPassTransportError),
        (VTPassResponseError, VTPassError),
        (VTPassAuthError, VTPassError),
        (VTPassRejected, VTPassError),
        (CustomerNotFound, VTPassRejected),
    ],
)
def test_tree(child, parent):
    assert issubclass(child, parent)


def test_not_sent_and_maybe_sent_are_distinct():
    assert not issubclass(VTPassNotSent, VTPassMaybeSent)
    assert not issubclass(VTPassMaybeSent, VTPassNotSent)


def test_code_description_and_status_are_carried():
    exc = VTPassAuthError("INVALID CREDENTIALS", code="087", http_status=401)
    assert (exc.code, exc.description, exc.http_status) == ("087", "INVALID CREDENTIALS", 401)
    assert str(exc) == "[087] INVALID CREDENTIALS (HTTP 401)"


def test_message_falls_back_to_the_class_name():
    assert str(VTPassResponseError()) == "VTPassResponseError"
