"""Scout & Hydrate: find products that need vectors, fetch their images safely, embed them."""

from soko.hydrate.fetch import AddressPolicy, SafeFetcher, image_signature
from soko.hydrate.hydrate import HydrateStats, Hydrator, retry_delay

__all__ = [
    "AddressPolicy",
    "HydrateStats",
    "Hydrator",
    "SafeFetcher",
    "image_signature",
    "retry_delay",
]
