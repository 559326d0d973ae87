#!/usr/bin/env python3
"""A correct integration middleware for andon, in Python 3.11 with the standard library only.

It takes the CloudEvents andon's simulated ERP, MES, QMS and WMS deliver to
`POST /events/{erp,mes,qms,wms}`, stores each event together with every outbound call it
implies in one SQLite (WAL) transaction, answers 202 only after the commit, and delivers the
calls from that durable outbox: per target system a pool of workers, per aggregate (lot,
order, material, …) one lane whose calls go strictly in order.

Written from andon's public documents only (contracts/, features/, docs/, harness/DESIGN.md,
the reference middleware's README/DESIGN). See README.md next to this file.

Named defects (`--defect NAME`, repeatable, or `DEFECTS=a,b`) switch on real-world bugs; each
one is a single, clearly marked branch (search for `DEFECT`).
"""

import argparse
import hashlib
import heapq
import http.client
import json
import logging
import os
import random
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse
import uuid
from collections import deque
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("pymw")

SYSTEMS = ("erp", "mes", "qms", "wms")

DEFECTS = {
    "own-posting-date": "stamps the middleware's own wall-clock date as posting date on every ERP "
    "call (the 'posting date = today' shortcut that breaks when plants post late or across a "
    "period end)",
    "by-product-as-receipt": "posts a by-product (by_product: true) as a 101 goods receipt "
    "instead of 531 (a mapping table that knows only the header material)",
    "wrong-storage-location": "posts every ERP goods movement to storage location 0001 whatever "
    "the event says (a hard-coded default storage location from the first plant's go-live)",
    "short-timeout-new-key": "uses a 0.5 s client timeout for ERP calls and, after a timeout, "
    "re-posts under a fresh Idempotency-Key (a new uuid per attempt): a slow ERP that did commit "
    "gets the posting twice",
    "single-plant-token": "requests its OAuth tokens with scope=plant:<the first plant it ever "
    "saw> only, for every call (a token configured for the pilot plant, reused site-wide)",
    "no-dedup": "does not deduplicate redeliveries: every delivery is processed as a new event, "
    "its calls under new idempotency keys (an at-least-once consumer without an inbox)",
}

# The event catalog: kind -> the systems that emit it (contracts/README.md, AsyncAPI).
EMITTERS = {
    "production_order.released": ("erp",),
    "production_order.changed": ("erp",),
    "production_order.cancelled": ("erp",),
    "material.changed": ("erp",),
    "operation.started": ("mes",),
    "operation.completed": ("mes",),
    "operation.confirmed": ("mes",),
    "material.consumed": ("mes",),
    "material.produced": ("mes",),
    "scrap.reported": ("mes",),
    "inspection_result.recorded": ("qms",),
    "usage_decision.made": ("qms",),
    "lot.hold_placed": ("qms",),
    "lot.hold_released": ("qms",),
    "nonconformance.created": ("qms", "mes"),
    "inventory.transferred": ("wms",),
    "inventory.adjusted": ("wms",),
    "shipment.confirmed": ("wms",),
}
# Lot events share one sequence per lot (source + subject) and are applied in that order.
LOT_EVENTS = {"inspection_result.recorded", "usage_decision.made", "lot.hold_placed", "lot.hold_released"}

MAX_BODY = 1024 * 1024


class Config:
    def __init__(self, args):
        env = os.environ
        self.host = args.host or env.get("HOST", "127.0.0.1")
        self.port = int(args.port if args.port is not None else env.get("PORT", "0"))
        self.urls = {s: (getattr(args, f"{s}_url") or env.get(f"{s.upper()}_URL") or "").rstrip("/") for s in SYSTEMS}
        self.data_dir = args.data_dir or env.get("DATA_DIR") or "./pymw-data"
        self.client_id = env.get("CLIENT_ID") or None
        self.client_secret = env.get("CLIENT_SECRET") or None
        self.timeout = float(env.get("CLIENT_TIMEOUT", "5"))
        self.backoff_base = float(env.get("BACKOFF_BASE", "0.1"))
        self.backoff_max = float(env.get("BACKOFF_MAX", "5"))
        self.lot_wait = float(env.get("LOT_WAIT", "10"))
        self.workers = int(env.get("WORKERS", "8"))
        here = os.path.dirname(os.path.abspath(__file__))
        self.schema_dir = env.get("SCHEMA_DIR") or os.path.normpath(os.path.join(here, "..", "..", "contracts", "schemas"))
        names = [d.strip() for d in (env.get("DEFECTS") or "").split(",") if d.strip()]
        names += args.defect or []
        unknown = [d for d in names if d not in DEFECTS]
        if unknown:
            raise SystemExit(f"unknown defect(s): {', '.join(unknown)} (known: {', '.join(DEFECTS)})")
        self.defects = frozenset(names)

    def defect(self, name):
        return name in self.defects


# --------------------------------------------------------------------------------------------
# JSON Schema 2020-12, the subset andon's contracts use ($ref across files, type, properties,
# required, additionalProperties, enum, const, pattern, lengths, numeric bounds, multipleOf,
# items, allOf/anyOf/oneOf/not, if/then/else, formats date and date-time).
# --------------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")


def _valid_date(s):
    m = _DATE_RE.match(s)
    if not m:
        return False
    try:
        date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return True
    except ValueError:
        return False


def _valid_datetime(s):
    m = _DATETIME_RE.match(s)
    if not m:
        return False
    try:
        date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    if int(m.group(4)) > 23 or int(m.group(5)) > 59 or int(m.group(6)) > 60:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


def _json_eq(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_eq(x, y) for x, y in zip(a, b))
    return a == b


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class Schemas:
    """Every `*.schema.json` under a directory, addressed by `$id`; `validate(kind, doc)`."""

    def __init__(self, root):
        self.docs = {}
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.endswith(".schema.json"):
                    with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                        doc = json.load(fh)
                    self.docs[doc["$id"]] = doc
        if not self.docs:
            raise SystemExit(f"no JSON schemas found under {root} (set SCHEMA_DIR)")
        self.base = "https://andon.dev/schemas/"
        self._refs = {}
        self._regex = {}

    def validate(self, kind, instance, limit=20):
        url = f"{self.base}{kind}.schema.json"
        errors = []
        self._v(self.docs[url], instance, url, "", errors, limit)
        return errors

    def _resolve(self, base, ref):
        key = (base, ref)
        hit = self._refs.get(key)
        if hit is None:
            url = urllib.parse.urljoin(base, ref)
            doc_url, _, frag = url.partition("#")
            node = self.docs[doc_url]
            for part in [p for p in frag.split("/") if p]:
                part = urllib.parse.unquote(part).replace("~1", "/").replace("~0", "~")
                node = node[int(part)] if isinstance(node, list) else node[part]
            hit = self._refs[key] = (doc_url, node)
        return hit

    def _pattern(self, p):
        r = self._regex.get(p)
        if r is None:
            r = self._regex[p] = re.compile(p)
        return r

    def _ok(self, schema, inst, base):
        errs = []
        self._v(schema, inst, base, "", errs, 1)
        return not errs

    def _v(self, s, inst, base, ptr, errs, limit):
        if len(errs) >= limit:
            return
        if s is True:
            return
        if s is False:
            errs.append((ptr or "/", "no value is allowed here"))
            return
        if "$ref" in s:
            b, target = self._resolve(base, s["$ref"])
            self._v(target, inst, b, ptr, errs, limit)
        t = s.get("type")
        if t is not None:
            types = t if isinstance(t, list) else [t]
            if not any(_TYPE_CHECKS[x](inst) for x in types):
                errs.append((ptr or "/", f"expected {' or '.join(types)}"))
                return
        if "const" in s and not _json_eq(inst, s["const"]):
            errs.append((ptr or "/", f"must be {json.dumps(s['const'])}"))
        if "enum" in s and not any(_json_eq(inst, e) for e in s["enum"]):
            errs.append((ptr or "/", "not one of the allowed values"))
        if isinstance(inst, str):
            if "minLength" in s and len(inst) < s["minLength"]:
                errs.append((ptr or "/", f"shorter than {s['minLength']}"))
            if "maxLength" in s and len(inst) > s["maxLength"]:
                errs.append((ptr or "/", f"longer than {s['maxLength']}"))
            if "pattern" in s:
                p = s["pattern"]
                # Python's `$` also matches before a final newline; ECMA-262's does not.
                if not self._pattern(p).search(inst) or (p.endswith("$") and inst.endswith("\n")):
                    errs.append((ptr or "/", f"does not match {p}"))
            fmt = s.get("format")
            if fmt == "date" and not _valid_date(inst):
                errs.append((ptr or "/", "not an ISO 8601 date"))
            elif fmt == "date-time" and not _valid_datetime(inst):
                errs.append((ptr or "/", "not an RFC 3339 timestamp"))
        elif _is_number(inst):
            if "minimum" in s and inst < s["minimum"]:
                errs.append((ptr or "/", f"less than {s['minimum']}"))
            if "maximum" in s and inst > s["maximum"]:
                errs.append((ptr or "/", f"greater than {s['maximum']}"))
            if "exclusiveMinimum" in s and inst <= s["exclusiveMinimum"]:
                errs.append((ptr or "/", f"not greater than {s['exclusiveMinimum']}"))
            if "exclusiveMaximum" in s and inst >= s["exclusiveMaximum"]:
                errs.append((ptr or "/", f"not less than {s['exclusiveMaximum']}"))
            if "multipleOf" in s:
                q = inst / s["multipleOf"]
                if abs(q - round(q)) > 1e-9 * max(1.0, abs(q)):
                    errs.append((ptr or "/", f"not a multiple of {s['multipleOf']}"))
        elif isinstance(inst, dict):
            for k in s.get("required", ()):
                if k not in inst:
                    errs.append((ptr or "/", f"missing required property {k}"))
            props = s.get("properties", {})
            for k, v in inst.items():
                sub = props.get(k)
                if sub is not None:
                    self._v(sub, v, base, f"{ptr}/{k}", errs, limit)
                elif "additionalProperties" in s:
                    ap = s["additionalProperties"]
                    if ap is False:
                        errs.append((f"{ptr}/{k}", "unknown property"))
                    elif ap is not True:
                        self._v(ap, v, base, f"{ptr}/{k}", errs, limit)
        elif isinstance(inst, list):
            if "minItems" in s and len(inst) < s["minItems"]:
                errs.append((ptr or "/", f"fewer than {s['minItems']} items"))
            if "maxItems" in s and len(inst) > s["maxItems"]:
                errs.append((ptr or "/", f"more than {s['maxItems']} items"))
            if "items" in s:
                for i, v in enumerate(inst):
                    self._v(s["items"], v, base, f"{ptr}/{i}", errs, limit)
            if s.get("uniqueItems"):
                seen = [json.dumps(v, sort_keys=True) for v in inst]
                if len(set(seen)) != len(seen):
                    errs.append((ptr or "/", "items are not unique"))
        for sub in s.get("allOf", ()):
            self._v(sub, inst, base, ptr, errs, limit)
        if "anyOf" in s and not any(self._ok(sub, inst, base) for sub in s["anyOf"]):
            errs.append((ptr or "/", "matches none of anyOf"))
        if "oneOf" in s and sum(1 for sub in s["oneOf"] if self._ok(sub, inst, base)) != 1:
            errs.append((ptr or "/", "does not match exactly one of oneOf"))
        if "not" in s and self._ok(s["not"], inst, base):
            errs.append((ptr or "/", "matches a forbidden schema"))
        if "if" in s:
            if self._ok(s["if"], inst, base):
                if "then" in s:
                    self._v(s["then"], inst, base, ptr, errs, limit)
            elif "else" in s:
                self._v(s["else"], inst, base, ptr, errs, limit)


# --------------------------------------------------------------------------------------------
# Small helpers: dates, quantities, keys, trace context
# --------------------------------------------------------------------------------------------


def utc_date(ts):
    """The UTC calendar date (YYYY-MM-DD) of an RFC 3339 timestamp."""
    m = _DATETIME_RE.match(ts)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {ts}")
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    local = datetime(y, mo, d, h, mi, min(sec, 59))
    off = m.group(8)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        local -= sign * timedelta(hours=int(m.group(9)), minutes=int(m.group(10)))
    return local.date().isoformat()


def milli(value):
    """A JSON number (at most 3 decimals) as exact thousandths."""
    return int(Fraction(str(value)) * 1000)


def from_milli(m):
    return m // 1000 if m % 1000 == 0 else m / 1000


def to_base_unit(qty, material):
    """The same amount in the material's base unit, when the master converts it exactly to
    thousandths; otherwise the quantity unchanged (the ERP converts entry units itself).
    Never relabels a number with another unit."""
    if material is None or qty["unit"] == material.get("base_unit"):
        return qty
    for alt in material.get("alternative_units") or ():
        if alt["unit"] == qty["unit"]:
            # `numerator` base units = `denominator` alternative units (SAP UMREZ / UMREN).
            base = Fraction(str(qty["value"])) * alt["numerator"] / alt["denominator"]
            scaled = base * 1000
            if scaled.denominator == 1 and scaled > 0:
                return {"value": from_milli(int(scaled)), "unit": material["base_unit"]}
            return qty
    return qty


def idempotency_key(source, event_id, idx, nonce=""):
    raw = f"{source}|{event_id}|{idx}" + (f"|{nonce}" if nonce else "")
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def child_traceparent(parent):
    """Continue the event's trace: same trace id, a new span id, version 00, sampled."""
    parts = (parent or "").split("-")
    trace = parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else os.urandom(16).hex()
    span = "0000000000000000"
    while span == "0000000000000000":
        span = os.urandom(8).hex()
    return f"00-{trace}-{span}-01"


def q(segment):
    return urllib.parse.quote(str(segment), safe="")


def now_iso():
    return datetime.now(timezone.utc).isoformat()


def problem(status, code, title, detail, instance=None, errors=None):
    p = {"type": f"https://andon.dev/problems/{code}", "title": title, "status": status, "detail": detail, "code": code}
    if instance:
        p["instance"] = instance
    if errors:
        p["errors"] = [{"pointer": ptr, "message": msg} for ptr, msg in errors]
    return p


# --------------------------------------------------------------------------------------------
# Flows: which calls an event implies (contracts/flows.yaml). A call is a `Job` in the outbox.
# --------------------------------------------------------------------------------------------


class Job:
    """One outbound call owed for a source event (a row of the outbox table).

    kind: `call` (body final), `gm` (goods movement: quantities converted to the base unit at
    first delivery), `insp` (QMS inspection lot, only when the material needs inspection),
    `hold344` (344 of the lot's unrestricted stock, found by a stock look-up), `ud344` (344 of an
    accepted quantity while holds are in force), `rel343` (343 of what the holds moved).
    Resolved bodies are stored before the first attempt, so retries and restarts send the same
    payload under the same key."""

    __slots__ = ("rid", "target", "lane", "kind", "method", "path", "body", "resolved", "meta", "ev_source",
                 "ev_id", "ev_type", "nonce", "idx", "trace", "key", "attempts", "next_at", "timed_out")

    def __init__(self, **kw):
        self.rid = None
        self.resolved = False
        self.meta = {}
        self.attempts = 0
        self.next_at = 0.0
        self.timed_out = False
        self.nonce = ""
        for k, v in kw.items():
            setattr(self, k, v)

    @property
    def call(self):
        return f"{self.method} {self.path}"


def lot_lane(d):
    # Every ERP posting on one batch (receipt, usage decision, holds, consumption, shipment)
    # goes through one lane, so they reach the ERP in the order the plant reported them.
    return f"lot:{d['plant']}/{d['material']}/{d['batch']}"


def lot_path(d):
    return f"/api/v1/lots/{q(d['plant'])}/{q(d['material'])}/{q(d['batch'])}"


class Flows:
    def __init__(self, cfg):
        self.cfg = cfg

    # -- DEFECT hooks on ERP bodies -------------------------------------------------------------
    def posting_date(self, value):
        if self.cfg.defect("own-posting-date"):
            # DEFECT own-posting-date: the middleware's wall clock instead of business time.
            return datetime.now(timezone.utc).date().isoformat()
        return value

    def storage_location(self, value):
        if self.cfg.defect("wrong-storage-location"):
            # DEFECT wrong-storage-location: a hard-coded storage location.
            return "0001"
        return value

    def gm(self, ev, idx, lane, posting_date, items, kind="gm", meta=None):
        for it in items:
            it["storage_location"] = self.storage_location(it["storage_location"])
        body = {"posting_date": self.posting_date(posting_date), "items": items, "source": ref(ev)}
        return self.job(ev, idx, "erp", lane, "POST", "/api/v1/material-documents", body, kind=kind, meta=meta)

    def job(self, ev, idx, target, lane, method, path, body, kind="call", meta=None):
        return Job(target=target, lane=lane, kind=kind, method=method, path=path, body=body,
                   resolved=(kind == "call"), meta=meta or {}, ev_source=ev["source"], ev_id=ev["id"],
                   ev_type=ev["type"], idx=idx, trace=ev.get("traceparent"))

    # -- stateless flows ------------------------------------------------------------------------
    def plan(self, ev):
        k = kind_of(ev)
        d = ev["data"]
        src = ref(ev)
        if k in ("production_order.released", "production_order.changed"):
            body = {f: d[f] for f in ("order", "plant", "material", "planned_quantity", "storage_location",
                                      "operations", "components")}
            body["source"] = src
            lane = f"order:{d['plant']}/{d['order']}"
            if k == "production_order.released":
                return [self.job(ev, 0, "mes", lane, "POST", "/api/v1/work-orders", body)]
            return [self.job(ev, 0, "mes", lane, "PUT", f"/api/v1/work-orders/{q(d['order'])}", body)]
        if k == "production_order.cancelled":
            return [self.job(ev, 0, "mes", f"order:{d['plant']}/{d['order']}", "POST",
                             f"/api/v1/work-orders/{q(d['order'])}/cancellation", {"reason": d["reason"], "source": src})]
        if k == "material.changed":
            body = {f: d[f] for f in ("material", "description", "base_unit", "alternative_units", "batch_managed",
                                      "inspection_required", "plants") if f in d}
            body["source"] = src
            path = f"/api/v1/materials/{q(d['material'])}"
            return [self.job(ev, i, s, f"material:{d['material']}", "PUT", path, dict(body))
                    for i, s in enumerate(("mes", "qms", "wms"))]
        if k == "operation.confirmed":
            body = {f: d[f] for f in ("order", "operation", "plant", "yield", "scrap", "rework", "final",
                                      "work_center") if f in d}
            body["posting_date"] = self.posting_date(d["posting_date"])
            body["source"] = src
            return [self.job(ev, 0, "erp", f"order:{d['plant']}/{d['order']}", "POST", "/api/v1/confirmations", body)]
        if k == "material.consumed":
            item = {"movement_type": "261", "material": d["material"], "plant": d["plant"],
                    "storage_location": d["storage_location"], "batch": d["batch"], "quantity": d["quantity"],
                    "order": d["order"]}
            return [self.gm(ev, 0, lot_lane(d), d["posting_date"], [item])]
        if k == "material.produced":
            movement = "531" if d.get("by_product", False) else "101"
            if self.cfg.defect("by-product-as-receipt"):
                # DEFECT by-product-as-receipt: every output is posted as the header material.
                movement = "101"
            item = {"movement_type": movement, "material": d["material"], "plant": d["plant"],
                    "storage_location": d["storage_location"], "batch": d["batch"], "quantity": d["quantity"],
                    "order": d["order"]}
            lot = {f: d[f] for f in ("plant", "storage_location", "material", "batch", "quantity", "order")}
            lane = lot_lane(d)
            return [
                self.gm(ev, 0, lane, d["posting_date"], [item]),
                self.job(ev, 1, "qms", lane, "POST", "/api/v1/inspection-lots",
                         {"origin": "04", **lot, "source": src}, kind="insp"),
                self.job(ev, 2, "wms", lane, "POST", "/api/v1/receipts", {**lot, "source": src}),
            ]
        if k == "nonconformance.created":
            body = {f: d[f] for f in ("nonconformance", "type", "plant", "material", "batch", "defect_code", "text")
                    if f in d}
            body["source"] = src
            return [self.job(ev, 0, "erp", f"nc:{ev['source']}/{d['nonconformance']}", "POST",
                             "/api/v1/quality-notifications", body)]
        if k == "shipment.confirmed":
            # One material document per item, each in its lot's lane (flows.yaml: both are right).
            jobs = []
            for i, it in enumerate(d["items"]):
                item = {"movement_type": "601", "material": it["material"], "plant": d["plant"],
                        "storage_location": it["storage_location"], "batch": it["batch"], "quantity": it["quantity"]}
                jobs.append(self.gm(ev, i, lot_lane({"plant": d["plant"], **it}), utc_date(d["shipped_at"]), [item]))
            return jobs
        # operation.started/completed, scrap.reported, inventory.*: stored and acknowledged, no call.
        return []

    # -- lot events, applied in sequence order ---------------------------------------------------
    def plan_lot(self, ev, lot, stale):
        """Calls for a lot event; updates `lot` (holds in force) unless the event is stale.
        A stale event (older than one already applied) changes no status: MES and WMS get its
        call with its old `sequence` (they mark it stale and keep the newer status), the ERP no stock move."""
        k = kind_of(ev)
        d = ev["data"]
        src = ref(ev)
        lane = lot_lane(d)
        base = lot_path(d)
        seq = ev["sequence"]
        if k == "inspection_result.recorded":
            return []
        if k == "lot.hold_placed":
            jobs = []
            if not stale:
                if d["hold_id"] not in lot["holds"]:
                    lot["holds"].append(d["hold_id"])
                jobs.append(self.gm(ev, 0, lane, utc_date(d["placed_at"]), [], kind="hold344",
                                    meta={"lot": lot_key(ev), "plant": d["plant"], "material": d["material"],
                                          "batch": d["batch"]}))
            body = {"hold_id": d["hold_id"], "reason_code": d["reason_code"], "sequence": seq, "source": src}
            jobs.append(self.job(ev, 1, "mes", lane, "POST", f"{base}/holds", dict(body)))
            jobs.append(self.job(ev, 2, "wms", lane, "POST", f"{base}/holds", dict(body)))
            return jobs
        if k == "lot.hold_released":
            path = f"{base}/holds/{q(d['hold_id'])}/release"
            jobs = [self.job(ev, 0, "mes", lane, "POST", path, {"sequence": seq, "source": src}),
                    self.job(ev, 1, "wms", lane, "POST", path, {"sequence": seq, "source": src})]
            if not stale and d["hold_id"] in lot["holds"]:
                lot["holds"].remove(d["hold_id"])
                if not lot["holds"]:
                    # The last hold in force: move back what the holds moved to blocked.
                    jobs.append(self.gm(ev, 2, lane, utc_date(d["released_at"]), [], kind="rel343",
                                        meta={"lot": lot_key(ev), "plant": d["plant"], "material": d["material"],
                                              "batch": d["batch"]}))
            return jobs
        if k == "usage_decision.made":
            accepted = d["valuation"] == "A"
            item = {"movement_type": "321" if accepted else "350", "material": d["material"], "plant": d["plant"],
                    "storage_location": d["storage_location"], "batch": d["batch"], "quantity": d["quantity"]}
            posting = utc_date(ev["time"])
            jobs = [self.gm(ev, 0, lane, posting, [item])]
            if accepted and lot["holds"]:
                # Accepted while held: the lot stays blocked.
                hold = dict(item, movement_type="344")
                jobs.append(self.gm(ev, 1, lane, posting, [hold], kind="ud344", meta={"lot": lot_key(ev)}))
            status = {"status": "unrestricted" if accepted else "blocked", "sequence": seq, "source": src}
            jobs.append(self.job(ev, 2, "mes", lane, "PUT", f"{base}/status", dict(status)))
            jobs.append(self.job(ev, 3, "wms", lane, "PUT", f"{base}/status", dict(status)))
            return jobs
        return []


def kind_of(ev):
    return ev["type"][len("andon."):-len(".v1")]


def ref(ev):
    return {"source": ev["source"], "id": ev["id"]}


def lot_key(ev):
    return f"{ev['source']}|{ev['subject']}"


# --------------------------------------------------------------------------------------------
# The store: inbox, outbox, lot state, dead letters — one SQLite file in WAL mode.
# --------------------------------------------------------------------------------------------

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS inbox (
    source TEXT NOT NULL, id TEXT NOT NULL, nonce TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL, received REAL NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (source, id, nonce));
CREATE TABLE IF NOT EXISTS outbox (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
    ev_source TEXT NOT NULL, ev_id TEXT NOT NULL, ev_type TEXT NOT NULL, nonce TEXT NOT NULL,
    idx INTEGER NOT NULL, target TEXT NOT NULL, lane TEXT NOT NULL, kind TEXT NOT NULL,
    method TEXT NOT NULL, path TEXT NOT NULL, body TEXT NOT NULL, resolved INTEGER NOT NULL,
    meta TEXT NOT NULL, trace TEXT, key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, finished REAL);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, rid);
CREATE TABLE IF NOT EXISTS lots (
    lot TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, holds TEXT NOT NULL, moved TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lot_wait (
    source TEXT NOT NULL, id TEXT NOT NULL, nonce TEXT NOT NULL, lot TEXT NOT NULL, seq INTEGER NOT NULL,
    arrived REAL NOT NULL, event TEXT NOT NULL, PRIMARY KEY (source, id, nonce));
CREATE INDEX IF NOT EXISTS lot_wait_lot ON lot_wait (lot, seq);
CREATE TABLE IF NOT EXISTS lot_gaps (lot TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (lot, seq));
CREATE TABLE IF NOT EXISTS dead_letters (
    dl INTEGER PRIMARY KEY AUTOINCREMENT, ev_source TEXT, ev_id TEXT, ev_type TEXT, target TEXT,
    call TEXT, status INTEGER, code TEXT, reason TEXT, problem TEXT, at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_once ON dead_letters (ev_source, ev_id, target, call);
"""


class Store:
    def __init__(self, cfg, flows):
        self.cfg = cfg
        self.flows = flows
        os.makedirs(cfg.data_dir, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(cfg.data_dir, "middleware.db"), check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a crash of this process (SIGKILL); only an OS
        # crash or power loss could lose the last transactions.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA_SQL)
        self.lock = threading.Lock()  # one writer: every transaction runs under it
        self.waiting = self.db.execute("SELECT COUNT(*) FROM lot_wait").fetchone()[0]

    # -- transactions ---------------------------------------------------------------------------
    def _tx(self, fn):
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                out = fn()
                self.db.execute("COMMIT")
                return out
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _insert_jobs(self, jobs, nonce):
        now = time.time()
        for j in jobs:
            j.nonce = nonce
            j.key = idempotency_key(j.ev_source, j.ev_id, j.idx, nonce)
            cur = self.db.execute(
                "INSERT INTO outbox (ev_source, ev_id, ev_type, nonce, idx, target, lane, kind, method, path, body,"
                " resolved, meta, trace, key, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (j.ev_source, j.ev_id, j.ev_type, nonce, j.idx, j.target, j.lane, j.kind, j.method, j.path,
                 json.dumps(j.body), int(j.resolved), json.dumps(j.meta), j.trace, j.key, now))
            j.rid = cur.lastrowid

    # -- ingress --------------------------------------------------------------------------------
    def ingest(self, ev, nonce=""):
        """Store the event and every call it implies; return (duplicate?, jobs to dispatch)."""

        def tx():
            cur = self.db.execute("INSERT OR IGNORE INTO inbox (source, id, nonce, type, received, event)"
                                  " VALUES (?,?,?,?,?,?)",
                                  (ev["source"], ev["id"], nonce, ev["type"], time.time(), json.dumps(ev)))
            if cur.rowcount == 0:
                return True, []
            if kind_of(ev) in LOT_EVENTS:
                return False, self._lot_arrival(ev, nonce)
            jobs = self.flows.plan(ev)
            self._insert_jobs(jobs, nonce)
            return False, jobs

        return self._tx(tx)

    # -- lot sequencing -------------------------------------------------------------------------
    def _lot(self, key):
        row = self.db.execute("SELECT last_seq, holds, moved FROM lots WHERE lot=?", (key,)).fetchone()
        if row is None:
            return {"last_seq": 0, "holds": [], "moved": []}
        return {"last_seq": row[0], "holds": json.loads(row[1]), "moved": json.loads(row[2])}

    def _save_lot(self, key, lot):
        self.db.execute("INSERT INTO lots (lot, last_seq, holds, moved) VALUES (?,?,?,?) ON CONFLICT(lot) DO UPDATE"
                        " SET last_seq=excluded.last_seq, holds=excluded.holds, moved=excluded.moved",
                        (key, lot["last_seq"], json.dumps(lot["holds"]), json.dumps(lot["moved"])))

    def _apply(self, ev, lot, nonce, stale):
        jobs = self.flows.plan_lot(ev, lot, stale)
        self._insert_jobs(jobs, nonce)
        return jobs

    def _lot_arrival(self, ev, nonce):
        key = lot_key(ev)
        lot = self._lot(key)
        seq = ev["sequence"]
        if seq <= lot["last_seq"]:
            jobs = self._apply(ev, lot, nonce, stale=True)
            self._save_lot(key, lot)
            return jobs
        if seq == lot["last_seq"] + 1 or self._gaps_up_to(key, lot["last_seq"], seq):
            lot["last_seq"] = seq
            jobs = self._apply(ev, lot, nonce, stale=False)
            jobs += self._drain(key, lot)
            self._save_lot(key, lot)
            return jobs
        # A predecessor is missing: wait for it (bounded by LOT_WAIT, see lot_tick).
        self.db.execute("INSERT OR IGNORE INTO lot_wait (source, id, nonce, lot, seq, arrived, event)"
                        " VALUES (?,?,?,?,?,?,?)", (ev["source"], ev["id"], nonce, key, seq, time.time(), json.dumps(ev)))
        self.waiting += 1
        self._save_lot(key, lot)
        return []

    def _gaps_up_to(self, key, last, seq):
        """True when every sequence between `last` and `seq` was a poison event we refused."""
        n = self.db.execute("SELECT COUNT(*) FROM lot_gaps WHERE lot=? AND seq>? AND seq<?", (key, last, seq)).fetchone()[0]
        return n == seq - last - 1

    def _drain(self, key, lot):
        """Apply waiting events that are now next in line."""
        jobs = []
        while True:
            nxt = lot["last_seq"] + 1
            if self.db.execute("SELECT 1 FROM lot_gaps WHERE lot=? AND seq=?", (key, nxt)).fetchone():
                lot["last_seq"] = nxt
                continue
            row = self.db.execute("SELECT source, id, nonce, event FROM lot_wait WHERE lot=? AND seq=? ORDER BY arrived"
                                  " LIMIT 1", (key, nxt)).fetchone()
            if row is None:
                break
            self.db.execute("DELETE FROM lot_wait WHERE source=? AND id=? AND nonce=?", row[:3])
            self.waiting -= 1
            lot["last_seq"] = nxt
            jobs += self._apply(json.loads(row[3]), lot, row[2], stale=False)
        # Waiting events that became stale meanwhile (a duplicate sequence) are applied as stale.
        for row in self.db.execute("SELECT source, id, nonce, event FROM lot_wait WHERE lot=? AND seq<=?",
                                   (key, lot["last_seq"])).fetchall():
            self.db.execute("DELETE FROM lot_wait WHERE source=? AND id=? AND nonce=?", row[:3])
            self.waiting -= 1
            jobs += self._apply(json.loads(row[3]), lot, row[2], stale=True)
        return jobs

    def lot_tick(self):
        """Events that waited LOT_WAIT for a predecessor go ahead (the gap is skipped)."""
        if self.waiting <= 0:
            return []
        limit = time.time() - self.cfg.lot_wait

        def tx():
            jobs = []
            due = self.db.execute("SELECT lot, MIN(arrived) FROM lot_wait GROUP BY lot HAVING MIN(arrived) <= ?",
                                  (limit,)).fetchall()
            for key, first in due:
                lot = self._lot(key)
                oldest = self.db.execute("SELECT seq FROM lot_wait WHERE lot=? ORDER BY arrived LIMIT 1",
                                         (key,)).fetchone()[0]
                rows = self.db.execute("SELECT source, id, nonce, seq, event FROM lot_wait WHERE lot=? AND seq<=?"
                                       " ORDER BY seq, arrived", (key, oldest)).fetchall()
                for source, eid, nonce, seq, event in rows:
                    self.db.execute("DELETE FROM lot_wait WHERE source=? AND id=? AND nonce=?", (source, eid, nonce))
                    self.waiting -= 1
                    stale = seq <= lot["last_seq"]
                    if not stale:
                        log.info("lot %s: sequence %d goes ahead after waiting %.0fs for %d", key, seq,
                                 self.cfg.lot_wait, lot["last_seq"] + 1)
                        lot["last_seq"] = seq
                    jobs += self._apply(json.loads(event), lot, nonce, stale=stale)
                jobs += self._drain(key, lot)
                self._save_lot(key, lot)
            return jobs

        return self._tx(tx)

    def note_gap(self, key, seq):
        """A lot event we refused at ingress still took its place in the lot's sequence."""

        def tx():
            self.db.execute("INSERT OR IGNORE INTO lot_gaps (lot, seq) VALUES (?,?)", (key, seq))
            lot = self._lot(key)
            jobs = []
            if seq == lot["last_seq"] + 1:
                jobs = self._drain(key, lot)
                self._save_lot(key, lot)
            return jobs

        return self._tx(tx)

    # -- outbox ---------------------------------------------------------------------------------
    def pending_jobs(self):
        rows = self.db.execute("SELECT rid, ev_source, ev_id, ev_type, nonce, idx, target, lane, kind, method, path, body,"
                               " resolved, meta, trace, key, attempts FROM outbox WHERE state='pending' ORDER BY rid"
                               ).fetchall()
        jobs = []
        for r in rows:
            jobs.append(Job(rid=r[0], ev_source=r[1], ev_id=r[2], ev_type=r[3], nonce=r[4], idx=r[5], target=r[6],
                            lane=r[7], kind=r[8], method=r[9], path=r[10], body=json.loads(r[11]),
                            resolved=bool(r[12]), meta=json.loads(r[13]), trace=r[14], key=r[15], attempts=r[16]))
        return jobs

    def save_resolved(self, job):
        def tx():
            self.db.execute("UPDATE outbox SET body=?, resolved=1, meta=? WHERE rid=?",
                            (json.dumps(job.body), json.dumps(job.meta), job.rid))
        self._tx(tx)
        job.resolved = True

    def finish(self, job, state, dead=None, lot_update=None):
        """Mark a job done / skipped / dead; apply its effect on the lot state in the same
        transaction (what a 344 moved to blocked, what a 343 moved back)."""

        def tx():
            self.db.execute("UPDATE outbox SET state=?, attempts=?, finished=? WHERE rid=?",
                            (state, job.attempts, time.time(), job.rid))
            if lot_update is not None:
                self._update_moved(*lot_update)
            if dead is not None:
                self.db.execute("INSERT OR IGNORE INTO dead_letters (ev_source, ev_id, ev_type, target, call, status, code,"
                                " reason, problem, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                (job.ev_source, job.ev_id, job.ev_type, job.target, job.call, dead.get("status"),
                                 dead.get("code"), dead.get("reason"), json.dumps(dead.get("problem")), now_iso()))
        self._tx(tx)

    def _update_moved(self, key, items, sign):
        row = self.db.execute("SELECT moved FROM lots WHERE lot=?", (key,)).fetchone()
        moved = {}
        for m in json.loads(row[0]) if row else []:
            moved[(m["storage_location"], m["unit"])] = m["milli"]
        for it in items:
            k = (it["storage_location"], it["quantity"]["unit"])
            moved[k] = moved.get(k, 0) + sign * milli(it["quantity"]["value"])
        out = [{"storage_location": sl, "unit": u, "milli": v} for (sl, u), v in sorted(moved.items()) if v > 0]
        self.db.execute("UPDATE lots SET moved=? WHERE lot=?", (json.dumps(out), key))

    def moved(self, key):
        with self.lock:
            row = self.db.execute("SELECT moved FROM lots WHERE lot=?", (key,)).fetchone()
        return json.loads(row[0]) if row else []

    def ingress_dead_letter(self, ev, system, status, prob):
        src = ev.get("source") if isinstance(ev, dict) and isinstance(ev.get("source"), str) else None
        eid = ev.get("id") if isinstance(ev, dict) and isinstance(ev.get("id"), str) else None
        typ = ev.get("type") if isinstance(ev, dict) and isinstance(ev.get("type"), str) else None
        if src is None or eid is None:
            src, eid = src or "", eid or f"unidentified-{uuid.uuid4()}"

        def tx():
            self.db.execute("INSERT OR IGNORE INTO dead_letters (ev_source, ev_id, ev_type, target, call, status, code,"
                            " reason, problem, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (src, eid, typ, "sut", f"POST /events/{system}", status, prob["code"],
                             "rejected-at-ingress", json.dumps(prob), now_iso()))
        self._tx(tx)

    def dead_letters(self):
        with self.lock:
            rows = self.db.execute("SELECT dl, ev_source, ev_id, ev_type, target, call, status, code, reason, problem, at"
                                   " FROM dead_letters ORDER BY dl").fetchall()
        return [{"id": r[0], "source_event": {"source": r[1], "id": r[2], "type": r[3]}, "target": r[4], "call": r[5],
                 "status": r[6], "code": r[7], "reason": r[8], "problem": json.loads(r[9]) if r[9] else None,
                 "at": r[10]} for r in rows]

    def close(self):
        with self.lock:
            self.db.close()


# --------------------------------------------------------------------------------------------
# Delivery: per target a lane scheduler and a pool of workers; an HTTP client per worker.
# --------------------------------------------------------------------------------------------


class Retry(Exception):
    """Try again later: `at` is an absolute time (a Retry-After pause), else backoff."""

    def __init__(self, reason, at=None, timed_out=False):
        super().__init__(reason)
        self.reason = reason
        self.at = at
        self.timed_out = timed_out


class Rejected(Exception):
    """A final answer that is not a success: the call is dead-lettered, never retried."""

    def __init__(self, status, prob, call):
        super().__init__(f"{status} {prob.get('code') if prob else ''}")
        self.status = status
        self.problem = prob
        self.call = call


class Target:
    """One simulated system: its lanes of owed calls, its Retry-After pause, its token."""

    def __init__(self, name, url):
        self.name = name
        u = urllib.parse.urlsplit(url) if url else None
        self.host = u.hostname if u else None
        self.port = (u.port or 80) if u else None
        self.prefix = u.path.rstrip("/") if u else ""
        self.cond = threading.Condition()
        self.lanes = {}         # lane -> deque of jobs, in outbox order
        self.ready = deque()    # lanes whose head may go now
        self.delayed = []       # heap of (next_at, n, lane): heads waiting for their backoff
        self.busy = set()
        self.n = 0
        self.paused_until = 0.0
        self.token = None
        self.token_expires = 0.0
        self.token_lock = threading.Lock()
        self.auth_disabled_until = 0.0

    def add(self, job):
        with self.cond:
            q_ = self.lanes.get(job.lane)
            if q_ is None:
                self.lanes[job.lane] = deque([job])
                self._schedule(job.lane, job.next_at)
                self.cond.notify()
            else:
                q_.append(job)

    def _schedule(self, lane, at):
        if at <= time.monotonic():
            self.ready.append(lane)
        else:
            self.n += 1
            heapq.heappush(self.delayed, (at, self.n, lane))

    def pause(self, until):
        with self.cond:
            if until > self.paused_until:
                self.paused_until = until

    def take(self, stopping):
        with self.cond:
            while not stopping.is_set():
                now = time.monotonic()
                if self.paused_until > now:
                    self.cond.wait(min(self.paused_until - now, 0.5))
                    continue
                while self.delayed and self.delayed[0][0] <= now:
                    self.ready.append(heapq.heappop(self.delayed)[2])
                if self.ready:
                    lane = self.ready.popleft()
                    self.busy.add(lane)
                    return self.lanes[lane][0]
                wait = 0.5
                if self.delayed:
                    wait = min(wait, max(0.001, self.delayed[0][0] - now))
                self.cond.wait(wait)
            return None

    def done(self, job):
        with self.cond:
            self.busy.discard(job.lane)
            lane = self.lanes[job.lane]
            lane.popleft()
            if lane:
                self._schedule(job.lane, lane[0].next_at)
            else:
                del self.lanes[job.lane]
            self.cond.notify()

    def retry(self, job, at):
        with self.cond:
            self.busy.discard(job.lane)
            job.next_at = at
            self._schedule(job.lane, at)
            self.cond.notify()

    def wake(self):
        with self.cond:
            self.cond.notify_all()

    def backlog(self):
        with self.cond:
            return sum(len(v) for v in self.lanes.values())


class Client:
    """HTTP calls to the simulators: keep-alive connections per worker thread, bearer tokens,
    Retry-After pauses, and the classification of every outcome."""

    def __init__(self, cfg, targets):
        self.cfg = cfg
        self.targets = targets
        self.local = threading.local()
        self.first_plant = None  # for the single-plant-token defect

    def _conn(self, t):
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        c = conns.get(t.name)
        if c is None:
            timeout = self.cfg.timeout
            if t.name == "erp" and self.cfg.defect("short-timeout-new-key"):
                # DEFECT short-timeout-new-key: an impatient ERP client.
                timeout = 0.5
            c = conns[t.name] = http.client.HTTPConnection(t.host, t.port, timeout=timeout)
        return c

    def _drop(self, t):
        c = getattr(self.local, "conns", {}).pop(t.name, None)
        if c is not None:
            c.close()

    def _exchange(self, t, method, path, body, headers):
        """One request; (status, headers, bytes) or Retry on any transport failure."""
        now = time.monotonic()
        if t.paused_until > now:
            # Never call inside a wait the system announced (Retry-After), lookups included.
            raise Retry(f"{t.name} paused", at=t.paused_until)
        c = self._conn(t)
        try:
            c.request(method, t.prefix + path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if (r.getheader("connection") or "").lower() == "close":
                self._drop(t)
            return r.status, hdrs, data
        except (socket.timeout, TimeoutError) as e:
            self._drop(t)
            raise Retry(f"{t.name} timeout: {e}", timed_out=True)
        except (OSError, http.client.HTTPException) as e:
            self._drop(t)
            raise Retry(f"{t.name} connection error: {type(e).__name__}: {e}")

    def _token(self, t, trace_plant):
        if not self.cfg.client_id:
            return None
        with t.token_lock:
            now = time.monotonic()
            if t.token and now < t.token_expires:
                return t.token
            if now < t.auth_disabled_until:
                return None
            form = {"grant_type": "client_credentials", "client_id": self.cfg.client_id,
                    "client_secret": self.cfg.client_secret or ""}
            if self.cfg.defect("single-plant-token"):
                # DEFECT single-plant-token: a token scoped to the first plant ever seen.
                plant = self.first_plant or trace_plant
                if plant:
                    form["scope"] = f"plant:{plant}"
            # Without `scope` the token covers every plant (contracts/README.md, OpenAPI).
            status, hdrs, data = self._exchange(t, "POST", "/oauth/token", urllib.parse.urlencode(form).encode(),
                                                {"Content-Type": "application/x-www-form-urlencoded",
                                                 "Accept": "application/json"})
            if status == 200:
                tok = json.loads(data)
                t.token = tok["access_token"]
                t.token_expires = now + max(1.0, float(tok.get("expires_in", 3600)) * 0.9)
                return t.token
            self._retry_status(t, status, hdrs, data)
            # Token endpoint refused us for good (no such endpoint, wrong client): call without.
            log.warning("%s: token request answered %s; calling without a token for 30s", t.name, status)
            t.auth_disabled_until = now + 30
            return None

    def _retry_status(self, t, status, hdrs, data):
        """Raise Retry for every answer that means "later"; return for final answers."""
        if status in (429, 503):
            ra = retry_after(hdrs.get("retry-after"))
            if ra is not None:
                # Pause every call to this system until then (a small margin for clock reading).
                until = time.monotonic() + ra + 0.05
                t.pause(until)
                raise Retry(f"{t.name} {status} Retry-After {ra:g}s", at=until)
            raise Retry(f"{t.name} {status}")
        if status >= 500 or status == 408:
            raise Retry(f"{t.name} {status}")
        if status == 409 and parse_problem(data).get("code") == "idempotency-in-flight":
            raise Retry(f"{t.name} 409 idempotency-in-flight")

    def request(self, system, method, path, body=None, key=None, trace=None, plant=None):
        """A call; returns (status, parsed body) for 2xx and final 4xx answers, raises Retry."""
        t = self.targets[system]
        if t.host is None:
            raise Retry(f"no URL configured for {system}")
        headers = {"Accept": "application/json"}
        raw = None
        if body is not None:
            raw = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        if trace is not None:
            headers["traceparent"] = child_traceparent(trace)
        token = self._token(t, plant)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, hdrs, data = self._exchange(t, method, path, raw, headers)
        if status == 401:
            # Expired or revoked: forget this token (unless another worker already renewed it).
            with t.token_lock:
                if t.token == token:
                    t.token = None
            # Renew at once; without a token to renew, back off (credentials may be wrong).
            raise Retry(f"{system} 401", at=(time.monotonic() + 0.02) if token else None)
        self._retry_status(t, status, hdrs, data)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, parsed


def retry_after(value):
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def parse_problem(data):
    try:
        p = json.loads(data) if data else {}
        return p if isinstance(p, dict) else {}
    except ValueError:
        return {}


class Deliverer:
    def __init__(self, cfg, store, client, targets):
        self.cfg = cfg
        self.store = store
        self.client = client
        self.targets = targets
        self.stopping = threading.Event()
        self.threads = []
        self.materials = {}      # (material, plant) -> master, from ERP look-ups
        self.material_gen = 0    # bumped by material.changed, so a racing look-up is not cached
        self.mat_lock = threading.Lock()
        self.stats = {"delivered": 0, "dead": 0, "skipped": 0, "retries": 0}
        self.stats_lock = threading.Lock()

    def start(self):
        for t in self.targets.values():
            for i in range(self.cfg.workers):
                th = threading.Thread(target=self._worker, args=(t,), name=f"{t.name}-{i}", daemon=True)
                th.start()
                self.threads.append(th)

    def stop(self, grace=3.0):
        self.stopping.set()
        for t in self.targets.values():
            t.wake()
        end = time.monotonic() + grace
        for th in self.threads:
            th.join(max(0.0, end - time.monotonic()))

    def dispatch(self, jobs):
        for j in jobs:
            self.targets[j.target].add(j)

    def backlog(self):
        return sum(t.backlog() for t in self.targets.values())

    def material_changed(self, material):
        with self.mat_lock:
            self.material_gen += 1
            for k in [k for k in self.materials if k[0] == material]:
                del self.materials[k]

    def _count(self, k):
        with self.stats_lock:
            self.stats[k] += 1

    # -- the worker loop ------------------------------------------------------------------------
    def _worker(self, t):
        while not self.stopping.is_set():
            job = t.take(self.stopping)
            if job is None:
                return
            try:
                self._process(t, job)
            except Exception:  # a bug must not kill the worker: retry the job later
                log.exception("unexpected error delivering %s %s", job.target, job.call)
                t.retry(job, time.monotonic() + self._backoff(job))

    def _backoff(self, job):
        # Exponential backoff with full jitter: 100 ms doubling up to BACKOFF_MAX.
        cap = min(self.cfg.backoff_max, self.cfg.backoff_base * (2 ** min(job.attempts, 20)))
        return random.uniform(self.cfg.backoff_base / 2, max(self.cfg.backoff_base, cap))

    def _process(self, t, job):
        job.attempts += 1  # every pass counts, look-ups included, so the backoff grows
        try:
            if not job.resolved:
                if not self._resolve(job):
                    self.store.finish(job, "skipped")
                    self._count("skipped")
                    t.done(job)
                    return
                self.store.save_resolved(job)
            key = job.key
            if job.target == "erp" and job.timed_out and self.cfg.defect("short-timeout-new-key"):
                # DEFECT short-timeout-new-key: a fresh key for the re-post after a timeout.
                key = uuid.uuid4().hex
            status, body = self.client.request(job.target, job.method, job.path, job.body, key=key,
                                               trace=job.trace, plant=self._plant(job))
            if status < 300:
                self.store.finish(job, "done", lot_update=self._lot_effect(job))
                self._count("delivered")
                t.done(job)
                return
            prob = body if isinstance(body, dict) else {}
            if status == 409 and prob.get("code") == "work-order-exists" and job.path == "/api/v1/work-orders":
                # Already downloaded: the effect is there.
                self.store.finish(job, "done")
                self._count("delivered")
                t.done(job)
                return
            raise Rejected(status, prob, job.call)
        except Retry as r:
            if r.timed_out:
                job.timed_out = True
            self._count("retries")
            at = r.at if r.at is not None else time.monotonic() + self._backoff(job)
            if job.attempts in (1, 5, 20) or job.attempts % 100 == 0:
                log.info("retry %s %s (attempt %d): %s", job.target, job.call, job.attempts, r.reason)
            t.retry(job, at)
        except Rejected as rej:
            prob = rej.problem or {}
            code = prob.get("code") or f"http-{rej.status}"
            log.warning("dead letter: %s %s for %s %s: %s %s", job.target, rej.call, job.ev_source, job.ev_id,
                        rej.status, code)
            self.store.finish(job, "dead", dead={"status": rej.status, "code": code, "reason": code, "problem": prob})
            self._count("dead")
            t.done(job)

    def _plant(self, job):
        p = job.meta.get("plant")
        if p is None and isinstance(job.body, dict):
            p = job.body.get("plant") or (job.body.get("items") or [{}])[0].get("plant")
        if p and self.client.first_plant is None:
            self.client.first_plant = p
        return p

    # -- resolution of bodies that need a look-up ------------------------------------------------
    def _material(self, material, plant, trace):
        with self.mat_lock:
            hit = self.materials.get((material, plant))
            gen = self.material_gen
        if hit is not None:
            return hit
        status, body = self.client.request("erp", "GET", f"/api/v1/materials/{q(material)}?plant={q(plant)}",
                                           trace=trace, plant=plant)
        if status == 404:
            return None  # unknown here: the ERP will say so when the posting reaches it
        if status >= 300:
            raise Rejected(status, body if isinstance(body, dict) else {}, f"GET /api/v1/materials/{material}")
        with self.mat_lock:
            if gen == self.material_gen:
                self.materials[(material, plant)] = body
        return body

    def _resolve(self, job):
        """Complete the body of a job; False when no call is owed after all."""
        if job.kind in ("gm", "ud344"):
            for it in job.body["items"]:
                it["quantity"] = to_base_unit(it["quantity"], self._material(it["material"], it["plant"], job.trace))
            return True
        if job.kind == "insp":
            b = job.body
            m = self._material(b["material"], b["plant"], job.trace)
            return bool(m and m.get("inspection_required", False))
        if job.kind == "hold344":
            m = job.meta
            query = urllib.parse.urlencode({"plant": m["plant"], "material": m["material"], "batch": m["batch"]})
            status, body = self.client.request("erp", "GET", f"/api/v1/stock?{query}", trace=job.trace, plant=m["plant"])
            if status >= 300:
                raise Rejected(status, body if isinstance(body, dict) else {}, "GET /api/v1/stock")
            items = []
            for row in (body or {}).get("stock", []):
                if (row.get("stock_type") == "unrestricted" and row.get("plant") == m["plant"]
                        and row.get("material") == m["material"] and row.get("batch") == m["batch"]
                        and row["quantity"]["value"] > 0):
                    items.append({"movement_type": "344", "material": m["material"], "plant": m["plant"],
                                  "storage_location": self.flows_sl(row["storage_location"]), "batch": m["batch"],
                                  "quantity": row["quantity"]})
            if not items:
                return False  # nothing unrestricted to block
            job.body["items"] = items
            return True
        if job.kind == "rel343":
            m = job.meta
            moved = self.store.moved(m["lot"])
            items = [{"movement_type": "343", "material": m["material"], "plant": m["plant"],
                      "storage_location": x["storage_location"], "batch": m["batch"],
                      "quantity": {"value": from_milli(x["milli"]), "unit": x["unit"]}} for x in moved]
            if not items:
                return False
            job.body["items"] = items
            return True
        return True

    def flows_sl(self, sl):
        if self.cfg.defect("wrong-storage-location"):
            # DEFECT wrong-storage-location (also on the hold postings).
            return "0001"
        return sl

    def _lot_effect(self, job):
        """What a successful 344/343 changes in the lot's record of stock moved by holds."""
        if job.kind in ("hold344", "ud344", "rel343"):
            return (job.meta["lot"], job.body["items"], -1 if job.kind == "rel343" else 1)
        return None


# --------------------------------------------------------------------------------------------
# Ingress: CloudEvents over HTTP, health, dead letters, backlog.
# --------------------------------------------------------------------------------------------


class App:
    def __init__(self, cfg, schemas, store, deliverer):
        self.cfg = cfg
        self.schemas = schemas
        self.store = store
        self.deliverer = deliverer
        self.ready = False
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        self.counts_lock = threading.Lock()

    def _count(self, k):
        with self.counts_lock:
            self.counts[k] += 1

    def receive(self, system, ctype, raw):
        """-> (status, body dict, content type)."""
        path = f"/events/{system}"
        media = (ctype or "").split(";")[0].strip().lower()
        if media not in ("application/cloudevents+json", "application/json"):
            return self._reject(system, None, problem(415, "unsupported-media-type", "Unsupported media type",
                                                      f"Expected application/cloudevents+json, got {media or 'nothing'}",
                                                      path))
        try:
            ev = json.loads(raw)
        except ValueError as e:
            return self._reject(system, None, problem(400, "invalid-request", "Malformed JSON", str(e), path))
        if not isinstance(ev, dict):
            return self._reject(system, ev, problem(400, "invalid-request", "Invalid CloudEvent",
                                                    "The body is not a JSON object", path))
        errors = self.schemas.validate("cloudevent", ev)
        if not errors:
            k = kind_of(ev)
            if system not in EMITTERS[k]:
                errors.append(("/type", f"{ev['type']} is not emitted by the {system.upper()}"))
            elif not ev["source"].startswith(f"/andon/{system}/"):
                errors.append(("/source", f"{ev['source']} is not a {system.upper()} source"))
        if errors:
            return self._reject(system, ev, problem(400, "invalid-request", "Invalid CloudEvent",
                                                    f"The event does not match the contract: {errors[0][0]} {errors[0][1]}",
                                                    path, errors))
        nonce = ""
        if self.cfg.defect("no-dedup"):
            # DEFECT no-dedup: every delivery is a new event (and its calls get new keys).
            nonce = uuid.uuid4().hex
        if self.deliverer.client.first_plant is None:
            self.deliverer.client.first_plant = ev["plant"]
        if kind_of(ev) == "material.changed":
            self.deliverer.material_changed(ev["data"]["material"])
        duplicate, jobs = self.store.ingest(ev, nonce)
        # Committed: only now hand the calls to the workers and answer 2xx.
        self.deliverer.dispatch(jobs)
        if duplicate:
            self._count("duplicate")
            return 200, {"status": "duplicate", "source": ev["source"], "id": ev["id"]}, "application/json"
        self._count("accepted")
        return 202, {"status": "accepted", "source": ev["source"], "id": ev["id"]}, "application/json"

    def _reject(self, system, ev, prob):
        """A poison message: 4xx problem+json, and visible as a dead letter, never silently gone."""
        self._count("rejected")
        try:
            self.store.ingress_dead_letter(ev, system, prob["status"], prob)
        except Exception:
            log.exception("could not record a rejected event")
        # A refused lot event still took its place in the lot's sequence: its successors need
        # not wait for it.
        if (isinstance(ev, dict) and isinstance(ev.get("type"), str) and isinstance(ev.get("source"), str)
                and isinstance(ev.get("subject"), str) and isinstance(ev.get("sequence"), int)
                and not isinstance(ev.get("sequence"), bool) and ev["sequence"] >= 1
                and ev["type"] in {f"andon.{k}.v1" for k in LOT_EVENTS}
                and re.fullmatch(r"/andon/qms/[A-Z0-9]{4}", ev["source"])
                and re.fullmatch(r"[A-Z0-9_./-]{1,40}/[A-Z0-9]{1,10}", ev["subject"])):
            try:
                self.deliverer.dispatch(self.store.note_gap(lot_key(ev), ev["sequence"]))
            except Exception:
                log.exception("could not record a lot gap")
        log.info("rejected event on /events/%s: %s", system, prob["detail"][:200])
        return prob["status"], prob, "application/problem+json"

    def stats(self):
        outbox = self.deliverer.backlog()
        waiting = self.store.waiting
        with self.counts_lock:
            counts = dict(self.counts)
        with self.deliverer.stats_lock:
            counts.update(self.deliverer.stats)
        return {"backlog": outbox + max(0, waiting), "outbox": outbox, "lot_waiting": waiting, **counts}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "andon-python-middleware"
    app = None  # set in main

    def log_message(self, fmt, *args):  # no access log: it would cost more than the work
        pass

    def setup(self):
        super().setup()
        # Small answers on a keep-alive connection: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every event.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, body, ctype="application/json"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        # Headers and body in one write (end_headers() would flush the headers on their own).
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def _problem(self, status, code, title, detail):
        self._send(status, problem(status, code, title, detail, self.path), "application/problem+json")

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        m = re.fullmatch(r"/events/(erp|mes|qms|wms)/?", path)
        if not m:
            self._read_body()
            return self._problem(404, "not-found", "Not found", f"No ingress at {path}")
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return self._problem(413, "payload-too-large", "Payload too large", f"Body exceeds {MAX_BODY} bytes")
        try:
            status, out, ctype = self.app.receive(m.group(1), self.headers.get("Content-Type"), body)
        except Exception as e:  # the store failed: ask the plant to deliver again
            log.exception("ingress failed")
            return self._problem(503, "unavailable", "Service unavailable", f"Could not store the event: {e}")
        self._send(status, out, ctype)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/health":
            if self.app.ready:
                return self._send(200, {"status": "ready"})
            return self._problem(503, "unavailable", "Not ready", "Starting")
        if path == "/dead-letters":
            return self._send(200, self.app.store.dead_letters())
        if path == "/stats":
            return self._send(200, self.app.stats())
        return self._problem(404, "not-found", "Not found", f"No resource at {path}")

    def _not_allowed(self):
        if self.headers.get("Content-Length"):
            self._read_body()
        self._problem(405, "method-not-allowed", "Method not allowed", f"{self.command} is not allowed here")

    do_PUT = do_DELETE = do_PATCH = _not_allowed


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="andon python middleware (a SUT with switchable named defects)")
    ap.add_argument("--port", type=int)
    ap.add_argument("--host")
    for s in SYSTEMS:
        ap.add_argument(f"--{s}-url")
    ap.add_argument("--data-dir")
    ap.add_argument("--defect", action="append", metavar="NAME", help="switch on a named defect (repeatable)")
    ap.add_argument("--list-defects", action="store_true")
    args = ap.parse_args()
    if args.list_defects:
        for name, what in DEFECTS.items():
            print(f"{name:24} {what}")
        return 0
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    cfg = Config(args)
    missing = [s for s in SYSTEMS if not cfg.urls[s]]
    if missing:
        log.warning("no URL for %s: calls to it wait until one is configured", ", ".join(missing))
    if cfg.defects:
        log.warning("DEFECTS ON: %s", ", ".join(sorted(cfg.defects)))

    schemas = Schemas(cfg.schema_dir)
    flows = Flows(cfg)
    store = Store(cfg, flows)
    targets = {s: Target(s, cfg.urls[s]) for s in SYSTEMS}
    client = Client(cfg, targets)
    deliverer = Deliverer(cfg, store, client, targets)
    app = App(cfg, schemas, store, deliverer)

    pending = store.pending_jobs()
    deliverer.dispatch(pending)
    if pending or store.waiting:
        log.info("recovered %d owed calls and %d waiting lot events from %s", len(pending), store.waiting, cfg.data_dir)
    deliverer.start()

    stopping = threading.Event()

    def lot_timer():
        while not stopping.wait(0.1):
            try:
                deliverer.dispatch(store.lot_tick())
            except Exception:
                log.exception("lot timer")

    threading.Thread(target=lot_timer, name="lot-timer", daemon=True).start()

    Handler.app = app
    server = Server((cfg.host, cfg.port), Handler)
    host, port = server.server_address[:2]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True).start()
    app.ready = True
    print(f"listening on http://{host}:{port}", flush=True)
    log.info("ready: ERP %s MES %s QMS %s WMS %s, store %s", *(cfg.urls[s] for s in SYSTEMS), cfg.data_dir)

    def on_signal(signum, _frame):
        log.info("signal %d: stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping.wait(0.5):
        pass
    # Graceful stop: no new events, let calls in flight finish; whatever is owed stays in SQLite.
    app.ready = False
    server.shutdown()
    deliverer.stop(grace=3.0)
    store.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
