"""The homeserver's media repository limits, checked before a file is uploaded.

A file over the server's `m.upload.size` would be refused with 413 M_TOO_LARGE after its bytes crossed the
network; asking the server once (GET /_matrix/client/v1/media/config, the authenticated media API of
Matrix 1.11, else the legacy /_matrix/media/v3/config) lets renkei refuse it up front, naming the file,
its size and the limit. The refusal is permanent: the same file would be refused again.
"""

from __future__ import annotations

from typing import Any

from renkei.errors import PermanentDeliveryError, RetryableDeliveryError

from ._http import MatrixRequestError

CONFIG_PATHS = ("/_matrix/client/v1/media/config", "/_matrix/media/v3/config")


class MediaLimits:
    def __init__(self, http: Any) -> None:
        self._http = http
        self._max: int | None = None
        self._known = False

    def max_upload(self) -> int | None:
        """The server's upload limit in bytes (None: it names none)."""
        if not self._known:
            for path in CONFIG_PATHS:
                try:
                    body = self._http.call("GET", path, what="media config")
                except MatrixRequestError:
                    continue  # not this API version (404/400): try the older path
                except RetryableDeliveryError:
                    return None  # not known now; the upload itself will say if the file is too large
                size = body.get("m.upload.size")
                self._max = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None
                break
            self._known = True
        return self._max

    def check(self, index: int, name: str, size: int) -> None:
        limit = self.max_upload()
        if limit is not None and size > limit:
            raise PermanentDeliveryError(
                f"attachment {index} ({name}) is {size} bytes; the Matrix homeserver accepts at most {limit} bytes"
            )
