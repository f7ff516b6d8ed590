"""Seller tools: suggestions for a new listing from its photo. Thin: parse, call, shape."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from soko.api.deps import StateDep
from soko.api.params import uploaded_image
from soko.api.schemas import ListingSuggestionPublic, error_responses
from soko.api.strict import StrictRoute
from soko.app import MAX_LIMIT
from soko.products import INT64_MAX

router = APIRouter(route_class=StrictRoute, tags=["seller tools"])


@router.post("/api/listings/suggest", responses=error_responses(413, 422, 503))
def suggest_listing(
    state: StateDep,
    image: Annotated[UploadFile, File(description="The new listing's photo.")],
    text: Annotated[
        str | None, Form(max_length=500, description="The seller's draft title (optional).")
    ] = None,
    seller_id: Annotated[
        int | None,
        Form(ge=0, le=INT64_MAX, description="The seller: their own products are left out."),
    ] = None,
    limit: Annotated[int, Form(ge=1, le=MAX_LIMIT, description="Similar products (1-100).")] = 10,
) -> ListingSuggestionPublic:
    """A photo in: likely categories with confidences, a price band from the nearest products
    of the top category, and similar products (as `/api/search/image` finds them)."""
    started = time.perf_counter()
    picture = uploaded_image(image, state.soko.settings)
    suggestion = state.soko.listings.suggest(picture, text, seller_id=seller_id, limit=limit)
    state.metrics.search_seconds.labels("suggest").observe(time.perf_counter() - started)
    return ListingSuggestionPublic.from_suggestion(suggestion)
