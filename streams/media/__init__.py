"""Images for delivery mode ``bytes``: the SSRF-safe download and PhotoDNA's format limits."""

from streams.media.addresses import AddressPolicy, forbidden_because
from streams.media.fetcher import FetchedImage, ImageFetcher
from streams.media.images import (
    MAX_IMAGE_BYTES,
    MIN_SIDE,
    ImageFormat,
    PreparedImage,
    describe_unsupported,
    fit_to_limits,
    inspect_image,
    sniff_format,
)
from streams.media.network import Resolver, system_resolver

__all__ = [
    "MAX_IMAGE_BYTES",
    "MIN_SIDE",
    "AddressPolicy",
    "FetchedImage",
    "ImageFetcher",
    "ImageFormat",
    "PreparedImage",
    "Resolver",
    "describe_unsupported",
    "fit_to_limits",
    "forbidden_because",
    "inspect_image",
    "sniff_format",
    "system_resolver",
]
