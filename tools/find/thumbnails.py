"""Small pictures of indexed photos: the resource photo://ID and the app pages' thumbnails,
each read only when the photo lies inside the caller's roots."""

from __future__ import annotations

import base64
import contextlib
from typing import TYPE_CHECKING

from photocomic.tools.comics.previews import thumbnail_jpeg
from photocomic.tools.contract import ImageData
from photocomic.tools.errors import DecodeError, InvalidInput, PathRefused
from photocomic.tools.find.contract import PhotoRequest, Thumbnail, Thumbnails, ThumbnailsRequest
from photocomic.tools.policy import check_limit, require_roots

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call


def photo_thumbnail(call: Call, request: PhotoRequest) -> ImageData:
    require_roots(call.scope)
    row = call.library.store.get([request.photo_id])[0]
    call.scope.check_photo(row.photo_id, row.path)
    data = thumbnail_jpeg(row.path, within=call.scope.within())
    return ImageData(mime="image/jpeg", data=base64.b64encode(data).decode())


def app_thumbnails(call: Call, request: ThumbnailsRequest) -> Thumbnails:
    """Those the caller may see; the others (and unreadable ones) come back empty."""
    check_limit(len(request.photo_ids) or 1, "photo_ids")
    if not 32 <= request.side <= 384:
        raise InvalidInput(f"side must be between 32 and 384 pixels, not {request.side}")
    scope = call.scope
    rows = call.library.store.get_some(list(request.photo_ids))
    found = []
    for pid in request.photo_ids:
        row = rows.get(pid)
        data = None
        if row is not None and scope.allows(row.path):
            with contextlib.suppress(DecodeError, PathRefused):
                jpeg = thumbnail_jpeg(row.path, request.side, scope.within())
                data = base64.b64encode(jpeg).decode()
        found.append(Thumbnail(photo_id=pid, jpeg=data))
    return Thumbnails(thumbnails=found)
