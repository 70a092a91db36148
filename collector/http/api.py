"""The collector's JSON API (docs/evidence.md, docs/sla.md): vendor evidence (the
contract's own bearer token), maintenance windows (stamped with the server's time),
incident notes and the current state of a contract."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from aiohttp import web

from collector import evidence
from collector.config import CollectorConfig, Contract
from collector.ledger import Conflict, Ledger, MaintenanceRecord, Note
from collector.live import LiveSla
from collector.notes import incident_minute, incidents_around, no_incident_message, note_error
from collector.render.document import live_document
from collector.sla.period import IncidentReport
from runtime.logs import fields
from runtime.secrets import SecretError, read_secret, same_secret

log = logging.getLogger("dui.collector.api")
AUTH_USER = web.RequestKey("dui_auth_user", str)  # the Basic user http.auth let in (server.py)


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


class Api:
    def __init__(
        self,
        config: CollectorConfig,
        ledger: Ledger,
        live: LiveSla | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.contracts = {c.id: c for c in config.contracts}
        self.admin_auth = config.http.auth is not None  # checked by the server's middleware
        self.ledger = ledger
        self.live = live
        self.clock = clock

    def _contract(self, contract_id: str) -> Contract:
        contract = self.contracts.get(contract_id)
        if contract is None:
            raise _error(web.HTTPNotFound, f"no contract {contract_id!r}")
        return contract

    def _check_token(self, request: web.Request, contract_id: str) -> Contract:
        """The contract whose evidence token the request carries. An unknown contract, one
        without evidence_token_file and a wrong token answer the same 401, so that contract
        ids cannot be probed; the log says which it was."""
        contract = self.contracts.get(contract_id)
        reason = "unknown contract" if contract is None else "no evidence_token_file"
        token = None
        if contract is not None and contract.evidence_token_file:
            try:
                token = read_secret(contract.evidence_token_file)
                reason = "wrong or missing token"
            except SecretError as exc:  # emptied or removed since the start
                reason = str(exc)
        header = request.headers.get("Authorization", "")
        if token is None or not same_secret(header, f"Bearer {token}"):
            log.warning(
                "evidence refused",
                extra=fields(contract=contract_id[:64], reason=reason, peer=request.remote or ""),
            )
            raise _error(web.HTTPUnauthorized, "wrong or missing bearer token")
        return contract

    async def _evidence(self, request: web.Request, kind: str) -> web.Response:
        body = await request.read()
        try:
            claimed = json.loads(body).get("contract") if body else None
        except (ValueError, AttributeError, RecursionError):  # nesting too deep to read
            claimed = None
        if not isinstance(claimed, str):
            raise _error(web.HTTPBadRequest, "contract: missing (the body must name it)")
        contract = self._check_token(request, claimed)
        now = self.clock()
        try:
            record = evidence.parse(kind, body)
            evidence.check(record, dt.datetime.fromtimestamp(now, dt.UTC))
        except ValueError as exc:
            raise _error(web.HTTPUnprocessableEntity, str(exc)) from None
        try:
            [(entry, created)] = await asyncio.to_thread(
                self.ledger.add_evidence, kind, [record], now
            )
        except Conflict as exc:
            log.warning(
                "evidence conflict", extra=fields(contract=contract.id, id=record.id, kind=kind)
            )
            raise _error(web.HTTPConflict, str(exc)) from None
        log.info(
            "evidence received",
            extra=fields(contract=contract.id, id=record.id, kind=kind, created=created),
        )
        return web.json_response(
            {
                "id": record.id,
                "received_at": entry.received_at,
                "chain_hash": entry.hash,
                "created": created,
            },
            status=201 if created else 200,
        )

    async def backups(self, request: web.Request) -> web.Response:
        return await self._evidence(request, "backup")

    async def restore_tests(self, request: web.Request) -> web.Response:
        return await self._evidence(request, "restore_test")

    async def void(self, request: web.Request) -> web.Response:
        """Withdraw a record posted by mistake: a chained voiding entry (admin: `http.auth`,
        never the vendor's token)."""
        if not self.admin_auth:
            raise _error(
                web.HTTPForbidden,
                "voiding over the API needs http.auth in the collector config"
                " (or use dui-collector evidence void)",
            )
        try:
            data = await request.json()
            contract = self._contract(str(data["contract"]))
            record_id, reason = data["id"], data["reason"]
            kinds = [data.get("kind") or "backup"] + (["restore_test"] * ("kind" not in data))
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise _error(
                web.HTTPUnprocessableEntity, f"give contract, id, reason (and kind): {exc}"
            ) from None
        problem = evidence.void_error(record_id, reason, kinds[0])
        if problem:
            raise _error(web.HTTPUnprocessableEntity, problem)
        entry, created = None, False
        for kind in kinds:
            try:
                entry, created = await asyncio.to_thread(
                    self.ledger.add_void, kind, contract.id, record_id, reason, self.clock()
                )
                break
            except KeyError:
                continue
        if entry is None:
            raise _error(web.HTTPNotFound, f"no evidence {record_id!r} for contract {contract.id}")
        log.warning(
            "evidence voided",
            extra=fields(contract=contract.id, id=record_id, kind=kind, created=created),
        )
        return web.json_response(
            {"kind": kind, "id": record_id, "voided_at": entry.received_at,
             "chain_hash": entry.hash, "created": created},
            status=201 if created else 200,
        )  # fmt: skip

    def _incidents(self, contract: Contract, minute: int, now: float) -> list[IncidentReport]:
        """The incidents of the month holding `minute`: the current month from the live
        evaluation (incremental), an earlier one evaluated from the ledger."""
        if self.live is not None:
            period = self.live.evaluate(contract, now).period
            if period.start.timestamp() <= minute * 60 < period.end.timestamp():
                return period.incidents
        return incidents_around(self.ledger, contract, minute, now)

    async def note(self, request: web.Request) -> web.Response:
        """A note on the incident starting at {start} (admin: `http.auth`): 201 with the
        stored note, 404 when no incident of the contract starts there."""
        if not self.admin_auth:
            raise _error(
                web.HTTPForbidden,
                "notes over the API need http.auth in the collector config"
                " (or use dui-collector incidents note)",
            )
        contract = self._contract(request.match_info["id"])
        try:
            minute = incident_minute(request.match_info["start"])
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
        except (ValueError, RecursionError) as exc:
            raise _error(web.HTTPUnprocessableEntity, str(exc)) from None
        # a token carries no identity: then author is only what the body declares
        user = request.get(AUTH_USER)
        if data.get("author") is None:
            data["author"] = user or "api"
        problem = note_error(data)
        if problem:
            raise _error(web.HTTPUnprocessableEntity, problem)
        now = self.clock()
        found = await asyncio.to_thread(self._incidents, contract, minute, now)
        missing = no_incident_message(contract, minute, found)
        if missing:
            raise _error(web.HTTPNotFound, missing)
        stored = Note(
            contract.id,
            minute,
            data["author"],
            now,
            data["cause"],
            data.get("vendor_ticket"),
            data.get("status"),
            user,
        )
        entry = await asyncio.to_thread(self.ledger.add_note, stored)
        log.info("incident note", extra=fields(contract=contract.id, incident=minute * 60))
        zone = ZoneInfo(contract.service_hours.timezone)
        return web.json_response(
            {
                "incident": dt.datetime.fromtimestamp(minute * 60, zone).isoformat(),
                "author": stored.author,
                "at": dt.datetime.fromtimestamp(entry.received_at, zone).isoformat(),
                "cause": stored.cause,
                "vendor_ticket": stored.vendor_ticket,
                "status": stored.status,
                "recorded_by": stored.recorded_by,
                "chain_hash": entry.hash,
            },
            status=201,
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )

    async def maintenance(self, request: web.Request) -> web.Response:
        now = self.clock()
        try:
            data = await request.json()
            contract = self._contract(str(data["contract"]))
            bounds = {}
            for name in ("start", "end"):
                try:
                    bounds[name] = dt.datetime.fromisoformat(str(data[name]).replace("Z", "+00:00"))
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise _error(
                web.HTTPUnprocessableEntity,
                f"give contract, start and end (ISO with offset): {exc}",
            ) from None
        start, end = bounds["start"], bounds["end"]
        reason = data.get("reason")
        problem = evidence.window_error(start, end, dt.datetime.fromtimestamp(now, dt.UTC))
        if problem is None and not (reason is None or isinstance(reason, str)):
            problem = "reason: a string, or absent"
        if problem is None and reason is not None and len(reason) > 500:
            problem = "reason: longer than 500 characters"
        if problem:
            raise _error(web.HTTPUnprocessableEntity, problem)
        record = MaintenanceRecord(contract.id, start, end, now, reason)
        try:
            entry, created = await asyncio.to_thread(self.ledger.add_maintenance, record)
        except Conflict as exc:
            log.warning(
                "maintenance conflict", extra=fields(contract=contract.id, start=str(start))
            )
            raise _error(web.HTTPConflict, f"{exc}: a recorded window cannot be changed") from None
        return web.json_response(
            {"announced_at": entry.received_at, "chain_hash": entry.hash, "created": created},
            status=201 if created else 200,
        )

    async def contract(self, request: web.Request) -> web.Response:
        contract = self._contract(request.match_info["id"])
        if self.live is None:
            raise _error(web.HTTPServiceUnavailable, "the contract engine is not running")
        # Evaluated on demand, so the answer includes results stored a second ago.
        live = await asyncio.to_thread(self.live.evaluate, contract, self.clock())
        return web.json_response(
            live_document(live), dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/evidence/backups", self.backups)
        app.router.add_post("/api/v1/evidence/restore-tests", self.restore_tests)
        app.router.add_post("/api/v1/evidence/void", self.void)
        app.router.add_post("/api/v1/maintenance", self.maintenance)
        app.router.add_get("/api/v1/contracts/{id}", self.contract)
        app.router.add_post("/api/v1/contracts/{id}/incidents/{start}/notes", self.note)
