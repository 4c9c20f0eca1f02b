"""The simulated teacher's HTTP app: one pipeline for both APIs, read top to bottom in `handle`.

    received → key → JSON + the provider's validation → imitated local-server refusals
             → RPM/TPM buckets → fault draw → latency → error faults / dropped connection
             → answer (refusal, malformed JSON, stop sequences, truncation) → bill → respond

Everything between two awaits runs without interruption on the event loop, so the state
(buckets, ledger, fault generator) needs no locks. Only 200 responses are billed.

Routes: `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` (Anthropic), `GET /v1/models`,
`GET /health`, `GET /_sim/ledger[?entries=0]`, `POST /_sim/reset`, and both providers' batch APIs
(synth.sim.batch_api, answered through `answer` below). The two API routes are served
straight from ASGI (benchmarks push thousands of requests a second through them); Starlette
routes the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from types import ModuleType

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from synth.sim import anthropic_api, batch_api, openai_api, wire_faults
from synth.sim.answers import registry as answer_registry
from synth.sim.answers.registry import Believed, Refusal
from synth.sim.caching import PromptCache
from synth.sim.config import BILLED_BODY_FAULTS, SimConfig
from synth.sim.faults import FaultInjector, FaultPlan
from synth.sim.imitate import Imitation
from synth.sim.ledger import Ledger
from synth.sim.ratelimit import Limiter, retry_after_headers
from synth.sim.request import ApiError, Choice, ParsedRequest
from synth.sim.tokens import count_tokens, truncate_tokens

log = logging.getLogger("synth.sim")
JSON = "application/json"
JSON_B = JSON.encode()
# What a dropped connection sends before it closes: headers promising more than comes.
_DROP_PROMISED = 4096


@dataclass(slots=True)
class Reply:
    """What the pipeline decided: a status, a JSON body and headers; or a dropped connection."""

    status: int
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    content_type: bytes = JSON_B


DROP = Reply(200, drop=True)


async def send_reply(send: Send, reply: Reply) -> None:
    if reply.drop:
        # A 200 promising more body than comes: returning mid-body makes the server close the
        # connection, and the client sees a connection error, not a response.
        head = [(b"content-type", JSON_B), (b"content-length", b"%d" % _DROP_PROMISED)]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
        return
    head = [(b"content-type", reply.content_type), (b"content-length", b"%d" % len(reply.content))]
    head += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": head})
    await send({"type": "http.response.body", "body": reply.content})


async def wait_or_hang_up(delay: float, receive: Receive | None) -> bool:
    """Sleep `delay` seconds; True (at once) if the client disconnects meanwhile."""
    if receive is None:
        await asyncio.sleep(delay)
        return False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    watcher = asyncio.ensure_future(receive())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=delay)
    finally:
        if not watcher.done():
            watcher.cancel()
    if not done:
        return False
    if watcher.result().get("type") == "http.disconnect":
        return True
    await asyncio.sleep(max(0.0, deadline - loop.time()))  # anything else: just wait it out
    return False


class _QuietDrops(logging.Filter):
    """uvicorn reports the connections the sim drops on purpose as errors: they are not."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def break_json(text: str) -> str:
    """Valid JSON made invalid the way a model breaks it: the closing brace goes, a comma stays."""
    stripped = text.rstrip()
    return (stripped[:-1] if stripped.endswith(("}", "]")) else stripped) + ","


class SimApp:
    """The ASGI app plus the sim's state. One instance per server."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.answer = answer_registry.resolve(config.answers)
        self.key = config.require_key.get_secret_value() if config.require_key else None
        self.ledger = Ledger(config)
        self.faults = FaultInjector(config)
        self.imitation = Imitation(config, time.monotonic())
        self.in_flight = 0
        self.batches = batch_api.BatchApi(self)
        self._reset_state()
        self.apis: dict[str, ModuleType] = {
            "/v1/chat/completions": openai_api,
            "/v1/messages": anthropic_api,
        }
        routes = [
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/_sim/ledger", self.get_ledger, methods=["GET"]),
            Route("/_sim/reset", self.reset, methods=["POST"]),
            *batch_api.routes(self, self.batches),
        ]
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = self.apis.get(scope["path"]) if scope["type"] == "http" else None
        if api is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the client gave up mid-upload
                self.ledger.received += 1
                self.ledger.client_disconnects += 1
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = Headers(scope=scope)
        reply = await self.handle(api, b"".join(chunks), headers, receive)
        if self.config.echo_key != "none" and reply.status >= 400 and not reply.drop:
            reply.content = wire_faults.echo_key(
                reply.content, wire_faults.presented_key(headers), self.config.echo_key
            )
        await send_reply(send, reply)

    def _reset_state(self) -> None:
        cfg = self.config
        self.limiter = Limiter(cfg.rpm, cfg.tpm, cfg.burst_s, time.monotonic())
        self.prompt_cache = PromptCache(cfg.cache_min_tokens)
        self.batches.state = batch_api.BatchState()
        self.answered: dict[int, int] = {}

    def close(self) -> None:
        self.ledger.close()

    # -- routes ---------------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        if request.headers.get("anthropic-version"):
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.config.models
            ]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            return JSONResponse(
                {"data": data, "has_more": False, "first_id": first, "last_id": last}
            )
        listing = [
            {"id": m, "object": "model", "created": 0, "owned_by": "distill-sim"}
            for m in self.config.models
        ]
        return JSONResponse({"object": "list", "data": listing})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def get_ledger(self, request: Request) -> Response:
        entries = request.query_params.get("entries", "1") not in ("0", "false", "no")
        return JSONResponse(self.ledger.to_dict(entries=entries))

    async def reset(self, request: Request) -> Response:
        self.ledger.reset()
        self.faults.reset()
        self._reset_state()
        return JSONResponse({"reset": True})

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        api = self.apis.get(request.url.path, openai_api)
        err = ApiError(status, f"Invalid URL ({request.method} {request.url.path})")
        if status == 405:
            err = ApiError(405, f"Method {request.method} not allowed on {request.url.path}")
        return Response(api.error_body(err, ""), status, media_type=JSON)

    # -- the pipeline ---------------------------------------------------------------------------

    async def handle(
        self,
        api: ModuleType,
        raw: bytes,
        request_headers: Headers,
        receive: Receive | None = None,
    ) -> Reply:
        """One request through the whole pipeline (see the module docstring). `receive`, when
        given, tells a client that hung up during the latency (an abandoned request)."""
        ledger = self.ledger
        ledger.received += 1
        response_id, request_id = api.new_ids()
        headers: dict[str, str] = {}
        if not self.imitation.active:
            headers[api.REQUEST_ID_HEADER] = request_id
        try:
            if self.key is not None:
                denied = api.authenticate(request_headers, self.key)
                if denied is not None:
                    raise denied
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiError(400, api.BAD_JSON, type="invalid_request_error") from None
            parsed: ParsedRequest = api.parse(body, request_headers)
        except ApiError as err:
            return self._error(api, err, request_id, headers)

        body_hash = hashlib.blake2b(raw, digest_size=8).hexdigest()
        now = time.monotonic()
        ledger.arrived(body_hash, now)

        if self.imitation.active:
            refusal = self.imitation.refuse(self.in_flight, now, request_id)
            if refusal is not None:
                ledger.faults[f"{self.config.imitate}_503"] += 1
                return self._respond(503, refusal, headers)

        if self.limiter.active:
            cost = parsed.input_tokens + (parsed.max_tokens or 0) * parsed.n
            admission = self.limiter.admit(cost, now)
            if admission.wait_s > 0:
                ledger.rate_limited += 1
                bucket = (
                    self.limiter.requests if admission.reason == "requests" else self.limiter.tokens
                )
                limit = bucket.limit if bucket is not None else 0
                refused = api.rate_limited(
                    parsed.request.model,
                    admission.reason,
                    admission.wait_s,
                    limit,
                    1 if admission.reason == "requests" else cost,
                )
                if not admission.too_large:
                    headers.update(retry_after_headers(admission.wait_s))
                    ledger.told_to_wait(body_hash, now, admission.wait_s)
                return self._error(api, refused, request_id, headers)

        plan = self.faults.draw()
        delay = self.faults.delay_s(plan)
        self.in_flight += 1
        ledger.max_in_flight = max(ledger.max_in_flight, self.in_flight)
        try:
            abandoned = await wait_or_hang_up(delay, receive) if delay > 0 else False
        finally:
            self.in_flight -= 1
        if plan.slow:
            ledger.faults["slow"] += 1
        if abandoned:
            # Like a provider, the sim finishes what it started and bills it, unless told not to.
            ledger.abandoned += 1
            if not self.config.bill_abandoned:
                return Reply(499)

        if plan.error is not None and plan.error not in BILLED_BODY_FAULTS:
            return self._fault(api, plan.error, parsed, body_hash, request_id, headers)

        try:
            content = self.answer_parsed(api, parsed, plan, body_hash, request_id, response_id)
        except ApiError as failed:
            return self._error(api, failed, request_id, headers)
        if plan.usage:  # billed as generated; the response reports something else
            self.ledger.faults[f"usage_{self.config.usage_fault}"] += 1
            content = wire_faults.bad_usage(content, self.config.usage_fault)
        if plan.error is not None:  # billed, then mangled on its way back
            self.ledger.faults[plan.error] += 1
            mangle = wire_faults.truncate_body if plan.error == "truncated_200" else None
            content = (mangle or wire_faults.drop_choices)(content)
        return self._respond(200, content, self._with_limits(api, headers))

    def answer_parsed(
        self,
        api: ModuleType,
        parsed: ParsedRequest,
        plan: FaultPlan,
        body_hash: str,
        request_id: str,
        response_id: str,
        *,
        batch: bool = False,
    ) -> bytes:
        """Answer, bill and render one parsed request (online, or an item of a batch)."""
        ledger = self.ledger
        try:
            choices = self._choices(parsed, plan, body_hash, api)
        except Exception as exc:  # a bug in an answer function: say so, bill nothing
            log.exception("answer function failed")
            raise ApiError(
                500, f"the sim's answer function failed: {type(exc).__name__}: {exc}"
            ) from None

        cache = self.prompt_cache.use(parsed.cache_prefix, time.monotonic())
        cached = cache.read
        output_tokens = sum(c.output_tokens for c in choices)
        wall = time.time()
        ledger.bill(
            request_id,
            api.NAME,
            parsed.request.model,
            parsed.input_tokens,
            output_tokens,
            cached,
            body_hash,
            wall,
            cache_write=cache.write,
            cache_write_1h=cache.write_1h,
            batch=batch,
        )
        return api.success_body(
            response_id, parsed, choices, parsed.input_tokens, cached, int(wall), cache
        )

    def _fault(
        self,
        api: ModuleType,
        kind: str,
        parsed: ParsedRequest,
        body_hash: str,
        request_id: str,
        headers: dict[str, str],
    ) -> Reply:
        ledger = self.ledger
        ledger.faults[kind] += 1
        if kind == "drop":
            ledger.drops += 1
            return DROP
        if kind == "html_200":  # a proxy answered: nothing reached the model
            self.ledger.by_status["200"] += 1
            return Reply(200, wire_faults.html_page(), content_type=b"text/html; charset=utf-8")
        if kind == "429":
            wait = self.config.fault_retry_after_s
            headers.update(retry_after_headers(wait))
            ledger.told_to_wait(body_hash, time.monotonic(), wait)
            err = api.rate_limited(parsed.request.model, "requests", wait, self.config.rpm or 0, 1)
            return self._error(api, err, request_id, headers)
        if kind == "500_no_retry":
            headers["x-should-retry"] = "false"
        return self._error(api, api.server_error(kind), request_id, headers)

    def _choices(
        self, parsed: ParsedRequest, plan: FaultPlan, body_hash: str, api: ModuleType
    ) -> list[Choice]:
        count, key = 0, int(body_hash, 16)
        if parsed.temperature > 0:  # a repeat may differ: seed with how many came before
            count = self.answered.get(key, 0)
            self.answered[key] = count + 1
        rng = random.Random((self.config.seed << 96) ^ (count << 64) ^ key)
        choices = []
        for _ in range(parsed.n):
            out = self.answer(parsed.request, rng)
            if not isinstance(out, str):
                raise TypeError(f"an answer function must return str, not {type(out).__name__}")
            choices.append(self._shape(out, parsed, plan, api))
        if plan.truncate:
            self.ledger.faults["truncate"] += 1
        if plan.refusal:
            self.ledger.faults["refusal"] += 1
        if plan.content_filter:
            self.ledger.faults["content_filter"] += 1
        if plan.malformed_json and parsed.json_mode:
            self.ledger.faults["malformed_json"] += 1
        return choices

    @staticmethod
    def _shape(out: str, parsed: ParsedRequest, plan: FaultPlan, api: ModuleType) -> Choice:
        if isinstance(out, Refusal) or plan.refusal:
            text = str(out) if isinstance(out, Refusal) and out else api.REFUSAL_TEXT
            return Choice(None, "refusal", count_tokens(text), refusal=text)
        if plan.content_filter:
            return Choice(None, "content_filter", 0)
        text = str(out)
        if plan.malformed_json and parsed.json_mode:
            text = break_json(text)
        finish, stop_sequence = "stop", None
        if parsed.stop:
            hits = [(text.find(s), s) for s in parsed.stop if s and s in text]
            if hits:
                at, stop_sequence = min(hits)
                text, finish = text[:at], "stop_sequence"
        n = count_tokens(text)
        if plan.truncate:
            text, finish = truncate_tokens(text, n // 2), "length"
            n = count_tokens(text)
        if parsed.max_tokens is not None and n > parsed.max_tokens:
            text, finish = truncate_tokens(text, parsed.max_tokens), "length"
            n = parsed.max_tokens
        if finish == "length":
            stop_sequence = None
        belief = out.belief if isinstance(out, Believed) else None
        return Choice(text, finish, n, stop_sequence=stop_sequence, belief=belief)

    # -- responses ------------------------------------------------------------------------------

    def _with_limits(self, api: ModuleType, headers: dict[str, str]) -> dict[str, str]:
        if self.limiter.active and not self.imitation.active:
            self.limiter.refresh(time.monotonic())
            headers.update(api.ratelimit_headers(self.limiter, time.time()))
        return headers

    def _error(
        self, api: ModuleType, err: ApiError, request_id: str, headers: dict[str, str]
    ) -> Reply:
        return self._respond(
            err.status, api.error_body(err, request_id), self._with_limits(api, headers)
        )

    def _respond(self, status: int, content: bytes, headers: dict[str, str]) -> Reply:
        self.ledger.by_status[str(status)] += 1
        return Reply(status, content, headers)
