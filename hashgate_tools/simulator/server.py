"""The simulator's HTTP face: PhotoDNA's Match and Report, plus an admin API for tests.

A Match/Report call passes, in order: the key check (401), an injected 429 storm, the per-key
quota (429 + Retry-After), an injected outage, the injected 5xx/3004/timeout, and only then
body validation and matching; a Match call for an image with an image fault meets it once the
image is read. Past the outage, no answer leaves before the injected latency has passed since
the request arrived: the simulator's own work runs inside it. The admin API (``/admin/...``,
``/healthz``) takes no key: the server binds to loopback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hashgate_tools.simulator.config import FaultConfig, ImageFault, OutageMode, SimulatorConfig
from hashgate_tools.simulator.database import HashDatabase
from hashgate_tools.simulator.faults import Fault, FaultInjector
from hashgate_tools.simulator.images import HashCache, ImageLimits, PdqHash, check_and_hash
from hashgate_tools.simulator.intake import (
    IntakeLimits,
    UrlFetcher,
    image_from_request,
    parse_enhance,
    read_body,
    requested_url,
)
from hashgate_tools.simulator.protocol import (
    MISSING_KEY_MESSAGE,
    MatchFlag,
    Refusal,
    StatusCode,
    gateway_error,
    match_body,
    new_tracking_id,
    no_status_body,
    rate_limit_message,
    refusal_body,
    report_body,
    report_refusal_body,
    unknown_status_body,
)
from hashgate_tools.simulator.quota import KeyQuotas, retry_after_header
from hashgate_tools.simulator.reports import review_report
from hashgate_tools.simulator.stats import Answer, ReceivedReport, ReportLog, Stats, key_fingerprint

logger = logging.getLogger(__name__)

API_PREFIX = "/photodna/v1.0"
ADMIN_PREFIX = "/admin"
KEY_HEADER = "Ocp-Apim-Subscription-Key"

_REFUSAL_ANSWERS: dict[StatusCode, Answer] = {
    StatusCode.INVALID_PARAMETER: Answer.STATUS_3002,
    StatusCode.UNHANDLED_ERROR: Answer.STATUS_3004,
    StatusCode.NOT_AN_IMAGE: Answer.STATUS_3206,
    StatusCode.IMAGE_SIZE_OUT_OF_RANGE: Answer.STATUS_3208,
    StatusCode.REQUEST_TOO_LARGE: Answer.STATUS_3209,
}

RefusalBody = Callable[[Refusal, str], dict[str, Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DbAddition(BaseModel):
    """``POST /admin/db``: an image (base64) to hash, or a ready PDQ hash in hex."""

    model_config = ConfigDict(extra="forbid")

    image_base64: str | None = None
    pdq: str | None = None
    source: str = "Test"
    violations: tuple[str, ...] = ("A1",)
    label: str = ""
    match_id: str | None = Field(None, min_length=1)


class ConnectionDropped(Exception):
    """Raised inside a handler to end the request without any answer on the wire."""


class Simulator:
    """The state of one simulator: database, hash cache, quotas, faults and what it answered."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._key_ids = {
            k.get_secret_value(): key_fingerprint(k.get_secret_value()) for k in config.keys
        }
        self.db = HashDatabase.load(config.db_path)
        self._image_limits = ImageLimits(
            min_side=config.min_image_side,
            max_bytes=config.max_image_bytes,
            max_pixels=config.max_image_pixels,
        )
        self._intake_limits = IntakeLimits(
            max_request_bytes=config.max_request_bytes,
            max_image_bytes=config.max_image_bytes,
            url_fetch_timeout_s=config.url_fetch_timeout_s,
        )
        self.hashes = HashCache(config.hash_cache_size)
        self.quotas = KeyQuotas(config.quota_rps)
        self.faults = FaultInjector(config.faults, seed=config.seed)
        self.stats = Stats()
        self.reports = ReportLog(config.reports_kept)
        self._fetcher = UrlFetcher(self._intake_limits)
        # One hashing thread: decoding leaves the event loop free for cached images, 429s and
        # admin calls, and bounds how many decoded images exist at once.
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulator-pdq")
        self._stopping = asyncio.Event()
        self._report_ids = itertools.count(1)

    # -- application ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._gateway_errors], client_max_size=self.config.max_request_bytes
        )
        app.router.add_post(f"{API_PREFIX}/Match", self.match)
        app.router.add_post(f"{API_PREFIX}/Report", self.report)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get(f"{ADMIN_PREFIX}/faults", self.get_faults)
        app.router.add_put(f"{ADMIN_PREFIX}/faults", self.put_faults)
        app.router.add_get(f"{ADMIN_PREFIX}/stats", self.get_stats)
        app.router.add_post(f"{ADMIN_PREFIX}/stats/reset", self.reset_stats)
        app.router.add_get(f"{ADMIN_PREFIX}/reports", self.get_reports)
        app.router.add_get(f"{ADMIN_PREFIX}/db", self.get_db)
        app.router.add_post(f"{ADMIN_PREFIX}/db", self.add_to_db)
        app.router.add_post(f"{ADMIN_PREFIX}/db/reload", self.reload_db)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _start(self, _app: web.Application) -> None:
        self._stopping.clear()
        await self._fetcher.start()

    async def _shutdown(self, _app: web.Application) -> None:
        self._stopping.set()  # ends hanging "timeout" requests now instead of after timeout_s

    async def _cleanup(self, _app: web.Application) -> None:
        await self._fetcher.close()
        self._hasher.shutdown(wait=True, cancel_futures=True)

    @web.middleware
    async def _gateway_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Unknown paths and methods answer like the gateway: a JSON 404."""
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            if not request.path.startswith(ADMIN_PREFIX):
                self.stats.answer(Answer.HTTP_404)
            return web.json_response(gateway_error(404), status=404)
        except ConnectionDropped:
            if request.transport is not None:
                request.transport.abort()
            # Never reaches the wire: aiohttp sees the closed transport and lets it go quietly.
            return web.Response(status=500)

    # -- the PhotoDNA API -------------------------------------------------------------------

    async def match(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, refusal_body, self._match)

    async def report(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, report_refusal_body, self._report)

    async def _serve(
        self, request: web.Request, refusal_shape: RefusalBody, answer: Handler
    ) -> web.StreamResponse:
        """The gate, then the answer, which leaves no sooner than the injected latency after the
        request arrived.

        The latency is the service's whole time, as a real API's is: the simulator's own work
        (reading the body, downloading and hashing the image) runs inside it instead of adding
        to it, so a client at N calls in flight can reach N / latency calls a second.
        """
        admitted = await self._gate(request, refusal_shape)
        if isinstance(admitted, web.StreamResponse):
            return admitted
        response = await answer(request)
        await self._pause_until(admitted)
        return response

    async def _match(self, request: web.Request) -> web.StreamResponse:
        tracking_id = new_tracking_id()
        enhance = parse_enhance(request.query.get("enhance"))
        if isinstance(enhance, Refusal):
            return self._refuse(enhance, tracking_id, refusal_body)
        image = await image_from_request(request, self._intake_limits, self._fetcher)
        if isinstance(image, Refusal):
            return self._refuse(image, tracking_id, refusal_body)
        if self.faults.config.image_faults:
            url = await requested_url(request)
            fault = self.faults.image_fault(url=url, image=image)
            if fault is not None:
                return await self._image_fault(fault, tracking_id)
        outcome = await self._hash(image)
        del image  # the bytes go no further than the hash
        if isinstance(outcome, Refusal):
            return self._refuse(outcome, tracking_id, refusal_body)
        hit = self.db.lookup(outcome, self.config.match_threshold)
        flags = []
        if hit is not None:
            entry, distance = hit
            flags.append(MatchFlag(entry.match_id, entry.source, entry.violations, distance))
        self.stats.answer(Answer.OK_MATCH if flags else Answer.OK_CLEAR)
        return web.json_response(match_body(flags, tracking_id))

    async def _report(self, request: web.Request) -> web.StreamResponse:
        tracking_id = new_tracking_id()
        body = await read_body(request, self.config.max_request_bytes)
        if isinstance(body, Refusal):
            return self._refuse(body, tracking_id, report_refusal_body)
        has_x_usr = bool(request.headers.get("x-usr"))
        has_x_pwd = bool(request.headers.get("x-pwd"))
        reviewed = review_report(body, has_x_usr=has_x_usr, has_x_pwd=has_x_pwd)
        del body
        report_id = None if reviewed.refusal else str(next(self._report_ids))
        self.reports.add(
            ReceivedReport(
                tracking_id=tracking_id,
                report_id=report_id,
                status_code=int(reviewed.refusal.code if reviewed.refusal else StatusCode.OK),
                has_x_usr=has_x_usr,
                has_x_pwd=has_x_pwd,
                is_test=reviewed.is_test,
                body=reviewed.redacted_body,
            )
        )
        if reviewed.refusal is not None:
            return self._refuse(reviewed.refusal, tracking_id, report_refusal_body)
        assert report_id is not None
        self.stats.answer(Answer.REPORT_ACCEPTED)
        return web.json_response(report_body(report_id, tracking_id))

    async def _gate(
        self, request: web.Request, refusal_shape: RefusalBody
    ) -> web.StreamResponse | float:
        """Everything in front of the service proper; an answer here means it never got there.

        A request let through gets the event loop's time at which its answer may leave.
        """
        arrived = asyncio.get_running_loop().time()
        key = request.headers.get(KEY_HEADER)
        key_id = self._key_ids.get(key) if key else None
        self.stats.request(key_id)
        if key_id is None:
            self.stats.answer(Answer.HTTP_401)
            message = None if key else MISSING_KEY_MESSAGE
            return web.json_response(gateway_error(401, message), status=401)

        storm_s = self.faults.storm_remaining_s()
        wait_s = storm_s if storm_s > 0 else self.quotas.take(key_id)
        if wait_s > 0:
            return self._too_many(wait_s)

        match self.faults.outage:
            case OutageMode.HTTP_503:
                return self._server_error(503)
            case OutageMode.CLOSE:
                self.stats.answer(Answer.DROPPED)
                raise ConnectionDropped

        decision = self.faults.decide(enhance=parse_enhance(request.query.get("enhance")) is True)
        answer_at = arrived + decision.delay_s
        if decision.fault is Fault.TIMEOUT:
            self.stats.answer(Answer.TIMEOUT)
            await self._pause_until(answer_at)
            raise ConnectionDropped
        if decision.fault is Fault.HTTP_5XX:
            assert decision.http_status is not None
            await self._pause_until(answer_at)
            return self._server_error(decision.http_status)
        if decision.fault is Fault.STATUS_3004:
            refusal = Refusal(StatusCode.UNHANDLED_ERROR, "injected fault")
            await self._pause_until(answer_at)
            return self._refuse(refusal, new_tracking_id(), refusal_shape)
        return answer_at

    async def _image_fault(self, fault: ImageFault, tracking_id: str) -> web.StreamResponse:
        match fault:
            case ImageFault.STATUS_3004:
                refusal = Refusal(StatusCode.UNHANDLED_ERROR, "injected fault for this image")
                return self._refuse(refusal, tracking_id, refusal_body)
            case ImageFault.HTTP_500:
                self.stats.answer(Answer.HTTP_5XX, 500)
                return web.Response(status=500)
            case ImageFault.TIMEOUT:
                self.stats.answer(Answer.TIMEOUT)
                await self._pause(self.faults.config.timeout_s)
                raise ConnectionDropped
            case ImageFault.UNKNOWN_STATUS:
                self.stats.answer(Answer.STATUS_UNKNOWN)
                return web.json_response(unknown_status_body(tracking_id))
            case ImageFault.NO_STATUS:
                self.stats.answer(Answer.MALFORMED)
                return web.json_response(no_status_body(tracking_id))
            case ImageFault.HTML:
                self.stats.answer(Answer.MALFORMED)
                return web.Response(
                    text="<html><body>Service busy</body></html>", content_type="text/html"
                )

    async def _pause_until(self, loop_time: float) -> None:
        await self._pause(loop_time - asyncio.get_running_loop().time())

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at shutdown so a stop never waits for an injected hang."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return

    async def _hash(self, image: bytes) -> PdqHash | Refusal:
        digest, outcome = self.hashes.lookup(image)
        if outcome is None:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(
                self._hasher, check_and_hash, image, self._image_limits
            )
            self.hashes.store(digest, outcome)
        return outcome

    def _refuse(self, refusal: Refusal, tracking_id: str, shape: RefusalBody) -> web.StreamResponse:
        self.stats.answer(_REFUSAL_ANSWERS[refusal.code])
        return web.json_response(shape(refusal, tracking_id))

    def _too_many(self, wait_s: float) -> web.StreamResponse:
        self.stats.answer(Answer.HTTP_429)
        seconds = retry_after_header(wait_s)
        return web.json_response(
            gateway_error(429, rate_limit_message(seconds)),
            status=429,
            headers={"Retry-After": str(seconds)},
        )

    def _server_error(self, status: int) -> web.StreamResponse:
        self.stats.answer(Answer.HTTP_5XX, status)
        return web.json_response(gateway_error(status), status=status)

    # -- admin ------------------------------------------------------------------------------

    async def healthz(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", "db_entries": len(self.db)})

    async def get_faults(self, _request: web.Request) -> web.StreamResponse:
        return _model_response(self.faults.config)

    async def put_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            config = FaultConfig.model_validate_json(await request.read())
        except ValidationError as exc:
            return _invalid_admin_request(exc)
        self.faults.apply(config)
        logger.info("simulator faults set", extra={"faults": config.model_dump(mode="json")})
        return _model_response(config)

    async def get_stats(self, _request: web.Request) -> web.StreamResponse:
        return _model_response(self.stats.snapshot())

    async def reset_stats(self, _request: web.Request) -> web.StreamResponse:
        """Counters and the received reports both start again, so a test sees only its own."""
        self.stats.reset()
        self.reports.clear()
        return _model_response(self.stats.snapshot())

    async def get_reports(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response([r.model_dump(mode="json") for r in self.reports.all()])

    async def get_db(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response({"entries": [e.model_dump(mode="json") for e in self.db.entries]})

    async def add_to_db(self, request: web.Request) -> web.StreamResponse:
        try:
            addition = DbAddition.model_validate_json(await request.read())
            pdq = await self._addition_hash(addition)
            if isinstance(pdq, Refusal):
                return web.json_response({"error": f"{int(pdq.code)}: {pdq.detail}"}, status=422)
            entry = self.db.add(
                pdq,
                source=addition.source,
                violations=addition.violations,
                label=addition.label,
                match_id=addition.match_id,
            )
        except ValidationError as exc:
            return _invalid_admin_request(exc)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=422)
        logger.info("simulator database entry added", extra={"match_id": entry.match_id})
        return _model_response(entry, status=201)

    async def _addition_hash(self, addition: DbAddition) -> PdqHash | Refusal:
        if (addition.image_base64 is None) == (addition.pdq is None):
            raise ValueError("give exactly one of image_base64 and pdq")
        if addition.pdq is not None:
            return PdqHash.from_hex(addition.pdq)
        try:
            image = base64.b64decode(addition.image_base64 or "", validate=True)
        except binascii.Error as exc:
            raise ValueError("image_base64 is not valid base64") from exc
        return await self._hash(image)

    async def reload_db(self, _request: web.Request) -> web.StreamResponse:
        """Re-read the database file; entries added at runtime are dropped."""
        try:
            self.db = HashDatabase.load(self.config.db_path)
        except (OSError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=422)
        return web.json_response({"entries": len(self.db)})


def _model_response(model: BaseModel, status: int = 200) -> web.StreamResponse:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


def _invalid_admin_request(exc: ValidationError) -> web.StreamResponse:
    errors = json.loads(exc.json(include_url=False, include_input=False))
    return web.json_response({"error": "invalid request", "details": errors}, status=400)
