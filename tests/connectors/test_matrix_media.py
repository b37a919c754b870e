"""Matrix media limits: a file over the homeserver's m.upload.size is refused before upload, naming it."""

from __future__ import annotations

import pytest

from renkei.connectors.matrix._http import MatrixRequestError
from renkei.connectors.matrix._media import MediaLimits
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError


class FakeHTTP:
    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def call(self, method: str, path: str, **_: object) -> dict:
        self.asked.append(path)
        answer = self.answers[path]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_limit_is_asked_once_and_an_oversize_file_is_refused_by_name() -> None:
    http = FakeHTTP({"/_matrix/client/v1/media/config": {"m.upload.size": 1000}})
    media = MediaLimits(http)
    media.check(0, "診療情報提供書.pdf", 1000)  # at the limit: fine
    refusal = r"^attachment 1 \(診療情報提供書\.pdf\) is 1001 bytes; .* at most 1000"
    with pytest.raises(PermanentDeliveryError, match=refusal):
        media.check(1, "診療情報提供書.pdf", 1001)
    assert http.asked == ["/_matrix/client/v1/media/config"]


def test_older_servers_answer_on_the_legacy_path_and_no_limit_means_no_refusal() -> None:
    http = FakeHTTP({
        "/_matrix/client/v1/media/config": MatrixRequestError("404", 404, "M_UNRECOGNIZED"),
        "/_matrix/media/v3/config": {"m.upload.size": 10},
    })  # fmt: skip
    with pytest.raises(PermanentDeliveryError):
        MediaLimits(http).check(0, "a.pdf", 11)
    assert MediaLimits(FakeHTTP({"/_matrix/client/v1/media/config": {}})).max_upload() is None
    down = FakeHTTP({"/_matrix/client/v1/media/config": RetryableDeliveryError("down")})
    MediaLimits(down).check(0, "a.pdf", 10**9)  # unknown now: the upload itself will tell
