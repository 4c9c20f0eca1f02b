"""Both providers' batch APIs, faithful enough for their official SDKs.

OpenAI (Files + Batches): `POST /v1/files` (multipart, purpose `batch`, JSONL of
`{custom_id, method, url: /v1/chat/completions, body}`), `GET /v1/files/{id}/content`,
`POST /v1/batches`, `GET /v1/batches` (newest first), `GET /v1/batches/{id}`,
`POST /v1/batches/{id}/cancel`. Answers go to an
output file, per-item errors and expired items to an error file.
Anthropic (Message Batches): `POST /v1/messages/batches` (`requests: [{custom_id, params}]`),
`GET /v1/messages/batches` (newest first), `GET /v1/messages/batches/{id}`,
`POST .../{id}/cancel`, `GET .../{id}/results` (JSONL of
`{custom_id, result: {type: succeeded | errored | canceled | expired, ...}}`).

A batch ends `batch_delay_s` after its creation, when it is next looked at: every item is then
answered through the same pipeline as an online request (`SimApp.answer_parsed`) and billed
at `price_batch_factor`. Knobs for tests: `batch_item_error_rate` (items answered with a
500, retryable), `batch_expire_first` (the first N batches expire, nothing answered).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from synth.sim import anthropic_api, openai_api
from synth.sim.faults import NO_FAULT
from synth.sim.request import ApiError

if TYPE_CHECKING:
    from synth.sim.server import SimApp

#: the providers' published limits per batch
OPENAI_MAX_REQUESTS = 50_000
ANTHROPIC_MAX_REQUESTS = 100_000
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."


@dataclass
class Outcome:
    custom_id: str
    status: int  # 200, an error status, or 0 for expired / canceled
    body: dict[str, Any] | None  # the completion or the error body
    kind: str = "succeeded"  # succeeded | errored | expired | canceled


@dataclass
class SimBatch:
    id: str
    provider: str  # openai | anthropic
    items: list[tuple[str, dict[str, Any]]]  # (custom_id, request body)
    created: float
    expire: bool
    input_file_id: str | None = None
    metadata: dict[str, Any] | None = None
    outcomes: list[Outcome] | None = None  # set once it ended
    ended_at: float | None = None
    cancelled: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancel_at: float | None = None


@dataclass
class BatchState:
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id → (filename, bytes)
    batches: dict[str, SimBatch] = field(default_factory=dict)
    created: int = 0


def _error(api: ModuleType, err: ApiError) -> Response:
    return Response(api.error_body(err, ""), err.status, media_type="application/json")


class BatchApi:
    def __init__(self, app: SimApp) -> None:
        self.app = app
        self.state = BatchState()

    # -- shared ---------------------------------------------------------------------------------

    def _denied(self, api: ModuleType, request: Request) -> Response | None:
        if self.app.key is None:
            return None
        err = api.authenticate(request.headers, self.app.key)
        return _error(api, err) if err is not None else None

    def _new_batch(self, provider: str, items: list[tuple[str, dict[str, Any]]]) -> SimBatch:
        cfg = self.app.config
        self.state.created += 1
        prefix = "batch_" if provider == "openai" else "msgbatch_"
        batch = SimBatch(
            id=prefix + os.urandom(12).hex(),
            provider=provider,
            items=items,
            created=time.time(),
            expire=self.state.created <= cfg.batch_expire_first,
        )
        self.state.batches[batch.id] = batch
        return batch

    def _process(self, batch: SimBatch) -> None:
        """End the batch once its processing time has passed: answer (or expire) every item."""
        if batch.outcomes is not None:
            return
        if not batch.cancelled and time.time() < batch.created + self.app.config.batch_delay_s:
            return
        api = openai_api if batch.provider == "openai" else anthropic_api
        rng = random.Random(hash((self.app.config.seed, batch.id)))
        outcomes = []
        for custom_id, body in batch.items:
            if batch.cancelled:
                outcomes.append(Outcome(custom_id, 0, None, "canceled"))
            elif batch.expire:
                outcomes.append(Outcome(custom_id, 0, None, "expired"))
            elif rng.random() < self.app.config.batch_item_error_rate:
                err = ApiError(500, "Internal server error", type="api_error")
                outcomes.append(
                    Outcome(custom_id, 500, json.loads(api.error_body(err, "")), "errored")
                )
            else:
                outcomes.append(self._answer(api, custom_id, body))
        batch.outcomes = outcomes
        batch.ended_at = time.time()

    def _answer(self, api: ModuleType, custom_id: str, body: dict[str, Any]) -> Outcome:
        self.app.ledger.received += 1
        response_id, request_id = api.new_ids()
        raw = json.dumps(body, sort_keys=True).encode()
        try:
            parsed = api.parse(body, {"anthropic-version": "2023-06-01"})
            content = self.app.answer_parsed(
                api,
                parsed,
                NO_FAULT,
                hashlib.blake2b(raw, digest_size=8).hexdigest(),
                request_id,
                response_id,
                batch=True,
            )
        except ApiError as err:
            return Outcome(
                custom_id, err.status, json.loads(api.error_body(err, request_id)), "errored"
            )
        return Outcome(custom_id, 200, json.loads(content))

    # -- OpenAI ---------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        if (denied := self._denied(openai_api, request)) is not None:
            return denied
        head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            head + await request.body()
        )
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        if "file" not in parts:
            return _error(openai_api, ApiError(400, "file: field required", param="file"))
        purpose = parts["purpose"].get_content().strip() if "purpose" in parts else ""
        if purpose != "batch":
            return _error(openai_api, ApiError(400, "purpose: the sim accepts batch files only"))
        payload = parts["file"].get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = parts["file"].get_filename() or "batch.jsonl"
        file_id = "file-" + os.urandom(12).hex()
        self.state.files[file_id] = (filename, data)
        return JSONResponse(self._file_object(file_id))

    def _file_object(self, file_id: str) -> dict[str, Any]:
        filename, data = self.state.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": "batch",
            "status": "processed",
        }

    async def file_content(self, request: Request) -> Response:
        if (denied := self._denied(openai_api, request)) is not None:
            return denied
        file_id = request.path_params["file_id"]
        if file_id not in self.state.files:
            return _error(openai_api, ApiError(404, f"No such File object: {file_id}"))
        return Response(self.state.files[file_id][1], media_type="application/octet-stream")

    async def create_openai(self, request: Request) -> Response:
        if (denied := self._denied(openai_api, request)) is not None:
            return denied
        body = await request.json()
        file_id = body.get("input_file_id")
        if body.get("endpoint") != "/v1/chat/completions":
            return _error(
                openai_api, ApiError(400, "endpoint: the sim serves /v1/chat/completions")
            )
        if file_id not in self.state.files:
            return _error(openai_api, ApiError(400, f"input_file_id: no such file {file_id}"))
        items: list[tuple[str, dict[str, Any]]] = []
        for n, line in enumerate(self.state.files[file_id][1].splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("url") != "/v1/chat/completions" or row.get("method") != "POST":
                return _error(
                    openai_api, ApiError(400, f"line {n}: method POST, url /v1/chat/completions")
                )
            items.append((row["custom_id"], row["body"]))
        if len({c for c, _ in items}) != len(items):
            return _error(openai_api, ApiError(400, "custom_id values must be unique in a batch"))
        if not items or len(items) > OPENAI_MAX_REQUESTS:
            return _error(
                openai_api, ApiError(400, f"a batch holds 1 to {OPENAI_MAX_REQUESTS} requests")
            )
        batch = self._new_batch("openai", items)
        batch.input_file_id = file_id
        batch.metadata = body.get("metadata")
        return JSONResponse(self._openai_object(batch, process=False))

    def _openai_files(self, batch: SimBatch) -> None:
        assert batch.outcomes is not None
        if batch.output_file_id is not None or batch.error_file_id is not None:
            return
        ok, failed = [], []
        for o in batch.outcomes:
            line: dict[str, Any] = {
                "id": "batch_req_" + os.urandom(12).hex(),
                "custom_id": o.custom_id,
            }
            if o.kind == "succeeded":
                line["response"] = {"status_code": 200, "request_id": o.body["id"], "body": o.body}  # type: ignore[index]
                line["error"] = None
                ok.append(line)
            elif o.kind == "errored":
                line["response"] = {"status_code": o.status, "request_id": "", "body": o.body}
                line["error"] = None
                failed.append(line)
            else:
                code = "batch_expired" if o.kind == "expired" else "batch_cancelled"
                message = EXPIRED_MESSAGE if o.kind == "expired" else "This batch was cancelled."
                line["response"] = None
                line["error"] = {"code": code, "message": message}
                failed.append(line)
        for rows, attr in ((ok, "output_file_id"), (failed, "error_file_id")):
            if rows:
                file_id = "file-" + os.urandom(12).hex()
                data = "".join(json.dumps(r) + "\n" for r in rows).encode()
                self.state.files[file_id] = (f"{batch.id}_{attr}.jsonl", data)
                setattr(batch, attr, file_id)

    def _openai_object(self, batch: SimBatch, *, process: bool = True) -> dict[str, Any]:
        if process:  # a batch is looked at: it ends if its time has come
            self._process(batch)
        ended = batch.outcomes is not None
        if ended:
            self._openai_files(batch)
        outcomes = batch.outcomes or []
        status = "in_progress"
        if ended:
            status = "cancelled" if batch.cancelled else "expired" if batch.expire else "completed"
        elif batch.cancelled:
            status = "cancelling"
        created = int(batch.created)
        ended_at = int(batch.ended_at or 0)
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": created,
            "in_progress_at": created,
            "expires_at": created + 86400,
            "finalizing_at": ended_at if ended else None,
            "completed_at": ended_at if status == "completed" else None,
            "failed_at": None,
            "expired_at": ended_at if status == "expired" else None,
            "cancelling_at": int(batch.cancel_at) if batch.cancel_at else None,
            "cancelled_at": ended_at if status == "cancelled" else None,
            "request_counts": {
                "total": len(batch.items),
                "completed": sum(o.kind == "succeeded" for o in outcomes),
                "failed": sum(o.kind != "succeeded" for o in outcomes),
            },
            "metadata": batch.metadata,
        }

    async def retrieve_openai(self, request: Request) -> Response:
        if (denied := self._denied(openai_api, request)) is not None:
            return denied
        batch = self.state.batches.get(request.path_params["batch_id"])
        if batch is None or batch.provider != "openai":
            return _error(openai_api, ApiError(404, "No such batch"))
        return JSONResponse(self._openai_object(batch))

    async def list_openai(self, request: Request) -> Response:
        if (denied := self._denied(openai_api, request)) is not None:
            return denied
        mine = [b for b in self.state.batches.values() if b.provider == "openai"]
        data = [self._openai_object(b) for b in reversed(mine)]  # newest first
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": False,
            }
        )

    async def cancel_openai(self, request: Request) -> Response:
        if (denied := self._denied(openai_api, request)) is not None:
            return denied
        batch = self.state.batches.get(request.path_params["batch_id"])
        if batch is None or batch.provider != "openai":
            return _error(openai_api, ApiError(404, "No such batch"))
        if batch.outcomes is None:
            batch.cancelled, batch.cancel_at = True, time.time()
        return JSONResponse(self._openai_object(batch))

    # -- Anthropic ------------------------------------------------------------------------------

    async def create_anthropic(self, request: Request) -> Response:
        if (denied := self._denied(anthropic_api, request)) is not None:
            return denied
        body = await request.json()
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return _error(
                anthropic_api,
                ApiError(
                    400, "requests: at least one request is required", type="invalid_request_error"
                ),
            )
        if len(requests) > ANTHROPIC_MAX_REQUESTS:
            return _error(
                anthropic_api,
                ApiError(
                    413,
                    f"a batch holds at most {ANTHROPIC_MAX_REQUESTS} requests",
                    type="request_too_large",
                ),
            )
        items = [(r["custom_id"], r["params"]) for r in requests]
        if len({c for c, _ in items}) != len(items):
            return _error(
                anthropic_api,
                ApiError(400, "custom_id values must be unique", type="invalid_request_error"),
            )
        batch = self._new_batch("anthropic", items)
        return JSONResponse(self._anthropic_object(batch, request, process=False))

    def _anthropic_object(
        self, batch: SimBatch, request: Request, *, process: bool = True
    ) -> dict[str, Any]:
        if process:
            self._process(batch)
        outcomes = batch.outcomes
        ended = outcomes is not None

        def stamp(t: float | None) -> str | None:
            return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

        counts = {
            "processing": 0 if ended else len(batch.items),
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        for o in outcomes or []:
            counts[o.kind] += 1
        base = f"{request.url.scheme}://{request.url.netloc}"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended"
            if ended
            else "canceling"
            if batch.cancelled
            else "in_progress",
            "request_counts": counts,
            "ended_at": stamp(batch.ended_at),
            "created_at": stamp(batch.created),
            "expires_at": stamp(batch.created + 86400),
            "archived_at": None,
            "cancel_initiated_at": stamp(batch.cancel_at),
            "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def _anthropic_batch(self, request: Request) -> SimBatch | None:
        batch = self.state.batches.get(request.path_params["batch_id"])
        return batch if batch is not None and batch.provider == "anthropic" else None

    async def retrieve_anthropic(self, request: Request) -> Response:
        if (denied := self._denied(anthropic_api, request)) is not None:
            return denied
        batch = self._anthropic_batch(request)
        if batch is None:
            return _error(anthropic_api, ApiError(404, "batch not found", type="not_found_error"))
        return JSONResponse(self._anthropic_object(batch, request))

    async def list_anthropic(self, request: Request) -> Response:
        if (denied := self._denied(anthropic_api, request)) is not None:
            return denied
        mine = [b for b in self.state.batches.values() if b.provider == "anthropic"]
        data = [self._anthropic_object(b, request) for b in reversed(mine)]
        return JSONResponse(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def cancel_anthropic(self, request: Request) -> Response:
        if (denied := self._denied(anthropic_api, request)) is not None:
            return denied
        batch = self._anthropic_batch(request)
        if batch is None:
            return _error(anthropic_api, ApiError(404, "batch not found", type="not_found_error"))
        if batch.outcomes is None:
            batch.cancelled, batch.cancel_at = True, time.time()
        return JSONResponse(self._anthropic_object(batch, request))

    async def results_anthropic(self, request: Request) -> Response:
        if (denied := self._denied(anthropic_api, request)) is not None:
            return denied
        batch = self._anthropic_batch(request)
        if batch is None:
            return _error(anthropic_api, ApiError(404, "batch not found", type="not_found_error"))
        self._process(batch)
        if batch.outcomes is None:
            return _error(
                anthropic_api,
                ApiError(400, "the batch is still processing", type="invalid_request_error"),
            )
        lines = []
        for o in batch.outcomes:
            result: dict[str, Any] = {"type": o.kind}
            if o.kind == "succeeded":
                result["message"] = o.body
            elif o.kind == "errored":
                result["error"] = o.body
            lines.append(json.dumps({"custom_id": o.custom_id, "result": result}) + "\n")
        return Response("".join(lines).encode(), media_type="application/binary")


def routes(app: SimApp, b: BatchApi) -> list[Route]:
    return [
        Route("/v1/files", b.upload, methods=["POST"]),
        Route("/v1/files/{file_id}/content", b.file_content, methods=["GET"]),
        Route("/v1/batches", b.create_openai, methods=["POST"]),
        Route("/v1/batches", b.list_openai, methods=["GET"]),
        Route("/v1/batches/{batch_id}", b.retrieve_openai, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", b.cancel_openai, methods=["POST"]),
        Route("/v1/messages/batches", b.create_anthropic, methods=["POST"]),
        Route("/v1/messages/batches", b.list_anthropic, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", b.retrieve_anthropic, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}/cancel", b.cancel_anthropic, methods=["POST"]),
        Route("/v1/messages/batches/{batch_id}/results", b.results_anthropic, methods=["GET"]),
    ]
