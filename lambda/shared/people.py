"""People as Rekognition user vectors: a person's name <-> the collection's ``UserId``.

A ``UserId`` is 1 to 128 characters of ``[a-zA-Z0-9_.\\-:]``
(https://docs.aws.amazon.com/rekognition/latest/APIReference/API_CreateUser.html).
A name made of those characters (``alice``, ``person_01``) is its own user id;
any other name (``山田 太郎``, ``Zoë``) becomes ``n:`` and the base32 of its
UTF-8 (lower case, no padding), which decodes back, so the API names a match
from the user id alone, with no table to read. Names are NFC-normalized
first, so the same name typed two ways is one person.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

USER_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,128}")
ENCODED = "n:"
MAX_ENCODED_NAME_BYTES = 75
"""UTF-8 bytes of a name that still fit in 128 characters once base32-encoded."""


class PersonNameError(ValueError):
    """A name that cannot be a person (empty, too long); the message says why."""


def user_id(person: str) -> str:
    """The collection's ``UserId`` for ``person``.

    :raises PersonNameError: empty, or over :data:`MAX_ENCODED_NAME_BYTES` bytes of UTF-8
        when it needs encoding.
    """
    name = unicodedata.normalize("NFC", person).strip()
    if not name:
        raise PersonNameError("a person's name cannot be empty")
    if USER_ID.fullmatch(name) and not name.startswith(ENCODED):
        return name
    raw = name.encode("utf-8")
    if len(raw) > MAX_ENCODED_NAME_BYTES:
        raise PersonNameError(
            f"{person!r} is {len(raw)} bytes of UTF-8; at most {MAX_ENCODED_NAME_BYTES} fit "
            "a Rekognition UserId (128 characters) once encoded"
        )
    return ENCODED + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def person_name(user: str) -> str:
    """The name :func:`user_id` made ``user`` from (a user id made elsewhere is its own
    name)."""
    if not user.startswith(ENCODED):
        return user
    text = user[len(ENCODED) :].upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return user
