"""The collector's JSON API (docs/evidence.md): vendor evidence (the contract's own
bearer token), maintenance windows (stamped with the server's time) and the current
state of a contract."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable

from aiohttp import web

from collector import evidence
from collector.config import CollectorConfig, Contract
from collector.ledger import Conflict, Ledger, MaintenanceRecord
from collector.live import LiveSla
from collector.render.document import live_document
from runtime.logs import fields
from runtime.secrets import SecretError, read_secret, same_secret

log = logging.getLogger("dui.collector.api")


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
        except (ValueError, AttributeError):
            claimed = None
        if not isinstance(claimed, str):
            raise _error(web.HTTPBadRequest, "contract: missing (the body must name it)")
        contract = self._check_token(request, claimed)
        try:
            record = evidence.parse(kind, body)
        except ValueError as exc:
            raise _error(web.HTTPUnprocessableEntity, str(exc)) from None
        try:
            [(entry, created)] = await asyncio.to_thread(
                self.ledger.add_evidence, kind, [record], self.clock()
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

    async def maintenance(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            contract = self._contract(str(data["contract"]))
            start = dt.datetime.fromisoformat(str(data["start"]).replace("Z", "+00:00"))
            end = dt.datetime.fromisoformat(str(data["end"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError) as exc:
            raise _error(
                web.HTTPUnprocessableEntity,
                f"give contract, start and end (ISO with offset): {exc}",
            ) from None
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise _error(web.HTTPUnprocessableEntity, "start and end need offsets, end > start")
        record = MaintenanceRecord(contract.id, start, end, self.clock(), data.get("reason"))
        entry, created = await asyncio.to_thread(self.ledger.add_maintenance, record)
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
        app.router.add_post("/api/v1/maintenance", self.maintenance)
        app.router.add_get("/api/v1/contracts/{id}", self.contract)
