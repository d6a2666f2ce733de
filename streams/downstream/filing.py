"""Files one NCMEC report through PhotoDNA's /Report: fetch the image, build the body, send it.

The report must carry the image itself, but hashgate never stores image bytes: they are fetched
(through the SSRF-safe fetcher) at filing time, held in memory for the one call, and dropped.
Platforms must therefore keep matched content reachable until its report is filed, which US law
(18 U.S.C. 2258A) asks of them anyway. ``IsTest`` is on unless production is configured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import SecretStr

from streams.errors import ConfigurationError
from streams.events import ReviewRequest
from streams.media.fetcher import FetchedImage, ImageFetcher
from streams.photodna import (
    MetadataItem,
    PhotoDNAClient,
    ReportRequest,
    ReportResult,
    ViolationContent,
)
from streams.settings import Settings

log = logging.getLogger(__name__)

#: x-usr and x-pwd of test reports when no NCMEC credentials are set (not secret: a placeholder).
TEST_CREDENTIALS = ("hashgate-test", "hashgate-test")

#: Stands in for a reportee field the upload event did not carry; the API requires a value.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reporter:
    """Who files: the organisation, its contact, and its NCMEC credentials (never in a repr)."""

    org_name: str
    reporter_name: str
    reporter_email: str
    ncmec_username: str
    ncmec_password: SecretStr = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Reporter:
        """NCMEC credentials are required for production only: test reports (``IsTest``, the
        default) against the simulator go out with ``TEST_CREDENTIALS`` when none are set."""
        reporting, photodna = settings.reporting, settings.photodna
        required = {
            "HASHGATE_REPORTING__ORG_NAME": reporting.org_name,
            "HASHGATE_REPORTING__REPORTER_NAME": reporting.reporter_name,
            "HASHGATE_REPORTING__REPORTER_EMAIL": reporting.reporter_email,
            "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": photodna.subscription_key,
        }
        if reporting.production:
            required["HASHGATE_PHOTODNA__NCMEC_USERNAME"] = photodna.ncmec_username
            required["HASHGATE_PHOTODNA__NCMEC_PASSWORD"] = photodna.ncmec_password
        missing = [name for name, value in required.items() if not value]
        if missing:
            mode = "in production" if reporting.production else "(test reports)"
            raise ConfigurationError(f"the reporting agent {mode} needs " + ", ".join(missing))
        username, password = photodna.ncmec_username, photodna.ncmec_password
        if not username or password is None:
            log.info(
                "no NCMEC credentials set: test reports carry placeholder credentials (%s), "
                "which the simulator accepts; NCMEC's test environment needs your own",
                TEST_CREDENTIALS[0],
            )
            username, password = TEST_CREDENTIALS[0], SecretStr(TEST_CREDENTIALS[1])
        return cls(
            org_name=str(reporting.org_name),
            reporter_name=str(reporting.reporter_name),
            reporter_email=str(reporting.reporter_email),
            ncmec_username=username,
            ncmec_password=password,
        )


def report_request(review: ReviewRequest, image: FetchedImage, reporter: Reporter) -> ReportRequest:
    """The /Report body for one matched upload; the metadata lets NCMEC and the platform
    correlate it with the upload, the PhotoDNA call and hashgate's report id."""
    uploader = review.uploader
    ip = str(uploader.ip) if uploader and uploader.ip else None
    content = ViolationContent(
        name=review.content_id,
        value=image.data,
        upload_ip_address=ip,
        upload_date_time=review.uploaded_at,
        additional_metadata=[
            MetadataItem(key="Tenant", value=review.tenant),
            MetadataItem(key="ContentId", value=review.content_id),
            MetadataItem(key="EventId", value=review.event_id),
            MetadataItem(key="PhotoDNATrackingId", value=review.tracking_id),
            MetadataItem(key="MatchSources", value=",".join(m.source for m in review.matches)),
            MetadataItem(
                key="Violations",
                value=",".join(sorted({v for m in review.matches for v in m.violations})),
            ),
            MetadataItem(key="ContentType", value=image.content_type),
        ],
    )
    return ReportRequest(
        org_name=reporter.org_name,
        reporter_name=reporter.reporter_name,
        reporter_email=reporter.reporter_email,
        incident_time=review.uploaded_at,
        reportee_name=(uploader.account_id if uploader else None) or UNKNOWN,
        reportee_ip_address=ip or UNKNOWN,
        violation_content_collection=[content],
        additional_metadata=[MetadataItem(key="HashgateReportId", value=review.report_id)],
    )


class ReportFiler:
    """Raises what its parts raise: MediaError (image gone or refused), RejectedByPhotoDNA,
    TransientError once the client's own retries are spent, AuthenticationError."""

    def __init__(
        self,
        client: PhotoDNAClient,
        fetcher: ImageFetcher,
        reporter: Reporter,
        *,
        is_test: bool,
    ) -> None:
        self._client = client
        self._fetcher = fetcher
        self._reporter = reporter
        self.is_test = is_test

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportFiler:
        reporter = Reporter.from_settings(settings)
        return cls(
            PhotoDNAClient.from_settings(settings.photodna),
            ImageFetcher(settings.media),
            reporter,
            is_test=not settings.reporting.production,
        )

    def __repr__(self) -> str:
        return f"ReportFiler(is_test={self.is_test}, org={self._reporter.org_name!r})"

    async def file(self, review: ReviewRequest) -> ReportResult:
        image = await self._fetcher.fetch(str(review.media_url))
        return await self._client.report(
            report_request(review, image, self._reporter),
            ncmec_username=self._reporter.ncmec_username,
            ncmec_password=self._reporter.ncmec_password,
            is_test=self.is_test,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._fetcher.aclose()
