"""The S/4HANA dialect seen through a real OData V2 client library (pyodata).

(a) Without arguments: every EDMX file under contracts/dialects/s4hana/*/metadata/ is parsed by
    pyodata's MetadataBuilder (strict: any parser error is fatal), plus what pyodata does not
    check: the schema namespace is the service name, the container is the default one, function
    imports are POST, every sap:unit names a property of its entity type, every release has the
    same services, the 2408/2502 difference in the material document item is where CHANGES.md
    says, and the quality notification is the same in both releases.

(b) With --url http://127.0.0.1:PORT/plant/1000: a client session against a running andon plant
    that speaks the S/4HANA dialect. It fetches the CSRF token, reads a released production
    order and its components, posts a goods issue (261) of a component to the order by deep
    insert through pyodata's entity-create API, and expects 201 with a document number; then it
    posts a goods issue far beyond the stock and expects 400 with the SAP error `M7/021`.

Run it through ci/pyodata.sh, which installs pyodata into target/pyodata-venv.
"""

import argparse
import datetime
import glob
import os
import sys
from decimal import Decimal

from lxml import etree
import pyodata
import requests
from pyodata.exceptions import HttpError
from pyodata.v2.model import MetadataBuilder

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DIALECT = os.path.join(ROOT, "contracts", "dialects", "s4hana")
SERVICES = ["API_PRODUCTION_ORDER_2_SRV", "API_PROD_ORDER_CONFIRMATION_2_SRV", "API_MATERIAL_DOCUMENT_SRV",
            "API_MATERIAL_STOCK_SRV", "API_PRODUCT_SRV", "API_QUALITYNOTIFICATION_SRV"]
NS = {
    "edmx": "http://schemas.microsoft.com/ado/2007/06/edmx",
    "edm": "http://schemas.microsoft.com/ado/2008/09/edm",
    "m": "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata",
    "sap": "http://www.sap.com/Protocols/SAPData",
}
# Decimal properties that are ratios, not quantities (no sap:unit).
RATIOS = {"QuantityNumerator", "QuantityDenominator"}
# SAP unit code -> ISO code (UN/ECE Rec. 20) for EntryUnitISOCode (2502) of andon's units.
ISO_UNIT = {"KG": "KGM", "G": "GRM", "L": "LTR", "M": "MTR", "PC": "PCE", "EA": "EA", "BOX": "BX"}


class CheckFailed(Exception):
    pass


def fail(msg):
    raise CheckFailed(msg)


# ------------------------------------------------------------------------------------- (a) EDMX

def check_edmx_file(path):
    """Parse one EDMX file with pyodata and check what pyodata leaves out. Returns the schema."""
    xml = open(path, "rb").read()
    try:
        schema = MetadataBuilder(xml).build()
    except Exception as exc:  # pyodata raises several types; every one is a failure here
        fail(f"{path}: pyodata cannot parse it: {type(exc).__name__}: {exc}")
    service = os.path.splitext(os.path.basename(path))[0]
    if list(schema.namespaces) != [service]:
        fail(f"{path}: schema namespace {list(schema.namespaces)} is not the service name {service}")
    tree = etree.fromstring(xml)
    containers = tree.findall(".//edm:EntityContainer", NS)
    if len(containers) != 1 or containers[0].get(f"{{{NS['m']}}}IsDefaultEntityContainer") != "true":
        fail(f"{path}: expected one EntityContainer with m:IsDefaultEntityContainer=\"true\"")
    for fi in tree.findall(".//edm:FunctionImport", NS):
        if fi.get(f"{{{NS['m']}}}HttpMethod") != "POST":
            fail(f"{path}: function import {fi.get('Name')} is not m:HttpMethod=\"POST\"")
    for et in tree.findall(".//edm:EntityType", NS):
        names = {p.get("Name") for p in et.findall("edm:Property", NS)}
        for p in et.findall("edm:Property", NS):
            unit = p.get(f"{{{NS['sap']}}}unit")
            if unit is not None and unit not in names:
                fail(f"{path}: {et.get('Name')}.{p.get('Name')} has sap:unit=\"{unit}\", not a property of the type")
            if p.get("Type") == "Edm.Decimal" and unit is None and p.get("Name") not in RATIOS:
                fail(f"{path}: quantity {et.get('Name')}.{p.get('Name')} has no sap:unit")
    return schema


def check_metadata():
    files = sorted(glob.glob(os.path.join(DIALECT, "*", "metadata", "*.xml")))
    if not files:
        fail(f"no EDMX files under {DIALECT}/*/metadata/")
    releases = {}
    for path in files:
        schema = check_edmx_file(path)
        release = os.path.basename(os.path.dirname(os.path.dirname(path)))
        releases.setdefault(release, {})[os.path.splitext(os.path.basename(path))[0]] = schema
        print(f"ok  {os.path.relpath(path, ROOT)}: {len(schema.entity_sets)} entity sets, "
              f"{len(schema.function_imports)} function imports")
    for release, schemas in sorted(releases.items()):
        if sorted(schemas) != sorted(SERVICES):
            fail(f"release {release}: services {sorted(schemas)}, expected {sorted(SERVICES)}")
    if set(releases) != {"2408", "2502"}:
        fail(f"releases {sorted(releases)}, expected 2408 and 2502")

    def item_props(release):
        typ = releases[release]["API_MATERIAL_DOCUMENT_SRV"].entity_type("A_MaterialDocumentItemType")
        return {p.name for p in typ.proprties()}
    if "EntryUnitISOCode" in item_props("2408") or "EntryUnitISOCode" not in item_props("2502"):
        fail("A_MaterialDocumentItemType: EntryUnitISOCode must exist in 2502 only (see CHANGES.md)")

    def notification(release):
        typ = releases[release]["API_QUALITYNOTIFICATION_SRV"].entity_type("A_QualityNotificationType")
        return [p.name for p in typ.key_proprties], {(p.name, p.typ.name, p.max_length) for p in typ.proprties()}
    if notification("2408") != notification("2502"):
        fail("A_QualityNotificationType differs between 2408 and 2502 (it is the same in both releases)")
    if notification("2502")[0] != ["QualityNotification"]:
        fail(f"A_QualityNotificationType: key {notification('2502')[0]}, expected ['QualityNotification']")
    print(f"metadata: {len(files)} EDMX files parsed by pyodata {pyodata_version()}, all checks passed")


def pyodata_version():
    try:
        from importlib.metadata import version
        return version("pyodata")
    except Exception:
        return "?"


# ------------------------------------------------------------------------------- (b) live session

class Session:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Accept"] = "application/json"
        self.responses = []  # every HTTP response, to assert on status codes pyodata hides

        def keep(resp, *args, **kwargs):
            self.responses.append(resp)
        self.http.hooks["response"].append(keep)

    def url(self, service):
        return f"{self.base}/sap/opu/odata/sap/{service}/"

    def fetch_csrf(self, service):
        resp = self.http.get(self.url(service), headers={"X-CSRF-Token": "Fetch"})
        if resp.status_code != 200:
            fail(f"GET {self.url(service)} with X-CSRF-Token: Fetch answered {resp.status_code}: {resp.text[:300]}")
        token = resp.headers.get("X-CSRF-Token")
        if not token or token.lower() in ("fetch", "required"):
            fail(f"no CSRF token in the answer to X-CSRF-Token: Fetch (got {token!r})")
        if not self.http.cookies:
            fail("the CSRF token came without a session cookie (Set-Cookie)")
        # The token is valid with the session cookie requests keeps; send it on every request.
        self.http.headers["X-CSRF-Token"] = token
        print(f"ok  CSRF token fetched ({len(token)} characters) with cookie(s) {sorted(self.http.cookies.keys())}")

    def client(self, service):
        try:
            return pyodata.Client(self.url(service), self.http)
        except Exception as exc:
            fail(f"pyodata cannot build a client for {service} from its $metadata: {type(exc).__name__}: {exc}")


def sap_error_code(resp):
    try:
        return resp.json()["error"]["code"]
    except Exception:
        return None


def pick_order(po):
    orders = po.entity_sets.A_ProductionOrder_2.get_entities().top(100).execute()
    if not orders:
        fail("A_ProductionOrder_2 is empty: the plant has no production order")
    for order in orders:
        if order.OrderIsReleased and not order.OrderIsMarkedForDeletion:
            return order.ManufacturingOrder
    fail(f"none of the {len(orders)} production orders read is released and not marked for deletion")


def unrestricted_stock(stock, material, plant, sloc):
    """Unrestricted-use (InventoryStockType 01) stock lines without special stock, largest first."""
    lines = (stock.entity_sets.A_MatlStkInAcctMod.get_entities()
             .filter(f"Material eq '{material}' and Plant eq '{plant}' and StorageLocation eq '{sloc}'")
             .execute())
    lines = [ln for ln in lines if ln.InventoryStockType == "01" and not ln.InventorySpecialStockType]
    return sorted(lines, key=lambda ln: Decimal(str(ln.MatlWrhsStkQtyInMatlBaseUnit)), reverse=True)


def run_session(base):
    s = Session(base)
    s.fetch_csrf("API_MATERIAL_DOCUMENT_SRV")
    po = s.client("API_PRODUCTION_ORDER_2_SRV")
    stock = s.client("API_MATERIAL_STOCK_SRV")
    md = s.client("API_MATERIAL_DOCUMENT_SRV")
    release_2502 = "EntryUnitISOCode" in {
        p.name for p in md.schema.entity_type("A_MaterialDocumentItemType").proprties()}
    print(f"ok  $metadata read through pyodata; material document items use "
          f"{'EntryUnitISOCode (2502)' if release_2502 else 'EntryUnit (2408)'}")

    order_id = pick_order(po)
    order = (po.entity_sets.A_ProductionOrder_2.get_entity(order_id)
             .expand("to_ProductionOrderComponent").execute())
    if order.ManufacturingOrder != order_id:
        fail(f"A_ProductionOrder_2('{order_id}') answered order {order.ManufacturingOrder}")
    if not order.etag:
        fail(f"A_ProductionOrder_2('{order_id}') answered without an ETag")
    components = order.to_ProductionOrderComponent
    if not components:
        fail(f"production order {order_id} has no components")
    print(f"ok  production order {order_id} read (ETag {order.etag}), {len(components)} components")

    # A component with unrestricted stock at its storage location; prefer KG, whose ISO code is certain.
    candidates = sorted(components, key=lambda c: c.BaseUnit != "KG")
    chosen = None
    for comp in candidates:
        lines = unrestricted_stock(stock, comp.Material, comp.Plant, comp.StorageLocation)
        if lines and Decimal(str(lines[0].MatlWrhsStkQtyInMatlBaseUnit)) > 0:
            chosen = (comp, lines[0])
            break
    if chosen is None:
        fail(f"no component of order {order_id} has unrestricted stock at its storage location")
    comp, line = chosen
    available = Decimal(str(line.MatlWrhsStkQtyInMatlBaseUnit))
    qty = min(available, Decimal("1.000"))
    print(f"ok  stock of {comp.Material} in {comp.Plant}/{comp.StorageLocation}"
          f"{' batch ' + line.Batch if line.Batch else ''}: {available} {line.MaterialBaseUnit} unrestricted")

    def item(quantity):
        it = {"Material": comp.Material, "Plant": comp.Plant, "StorageLocation": comp.StorageLocation,
              "GoodsMovementType": "261", "ManufacturingOrder": order_id,
              "QuantityInEntryUnit": f"{quantity:.3f}"}
        if line.Batch:
            it["Batch"] = line.Batch
        if release_2502:
            if comp.BaseUnit not in ISO_UNIT:
                fail(f"no ISO code known for unit {comp.BaseUnit}")
            it["EntryUnitISOCode"] = ISO_UNIT[comp.BaseUnit]
        else:
            it["EntryUnit"] = comp.BaseUnit
        return it

    # Post on the order's planned start: a business day in the simulated ERP's open period
    # (the simulator's business clock need not be today's date).
    order = po.entity_sets.A_ProductionOrder_2.get_entity(order_id).execute()
    today = order.MfgOrderPlannedStartDate

    def post(quantity):
        # Deep insert through pyodata's entity-create API: the items go in the navigation property
        # to_MaterialDocumentItem (pyodata sends them as a bare JSON array, which the dialect accepts).
        req = md.entity_sets.A_MaterialDocumentHeader.create_entity()
        req.set(GoodsMovementCode="03", PostingDate=today, DocumentDate=today,
                MaterialDocumentHeaderText=f"pyodata check {order_id}",
                to_MaterialDocumentItem=[item(quantity)])
        return req.execute()

    try:
        doc = post(qty)
    except HttpError as exc:
        fail(f"goods issue of {qty} {comp.BaseUnit} {comp.Material} to {order_id} answered "
             f"{exc.response.status_code}: {exc.response.text[:500]}")
    status = s.responses[-1].status_code
    if status != 201:
        fail(f"goods issue answered {status}, expected 201")
    number, year = doc.MaterialDocument, doc.MaterialDocumentYear
    if not number or not year:
        fail(f"the 201 answer carries no document number ({year!r}/{number!r})")
    items = s.responses[-1].json()["d"].get("to_MaterialDocumentItem", {})
    items = items.get("results", []) if isinstance(items, dict) else items
    if len(items) != 1 or items[0].get("GoodsMovementType") != "261":
        fail(f"the 201 answer should carry the one 261 item in to_MaterialDocumentItem, got {items!r}")
    print(f"ok  goods issue 261 of {qty} {comp.BaseUnit} {comp.Material} to {order_id}: 201, "
          f"material document {year}/{number}")

    too_much = available + Decimal("1000000")
    try:
        post(too_much)
    except HttpError as exc:
        resp = exc.response
        if resp.status_code != 400:
            fail(f"goods issue beyond the stock answered {resp.status_code}, expected 400: {resp.text[:500]}")
        code = sap_error_code(resp)
        if code != "M7/021":
            fail(f"goods issue beyond the stock: error.code {code!r}, expected 'M7/021': {resp.text[:500]}")
        details = resp.json()["error"].get("innererror", {}).get("errordetails")
        if not details:
            fail("the M7/021 error body has no error.innererror.errordetails")
        print(f"ok  goods issue of {too_much} {comp.BaseUnit} (beyond the stock): 400, error.code M7/021: "
              f"{resp.json()['error']['message']['value']}")
    else:
        fail(f"goods issue of {too_much} {comp.BaseUnit} {comp.Material} beyond the stock was posted "
             f"(answer {s.responses[-1].status_code}); expected 400 M7/021")
    print(f"session against {base}: all checks passed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="base URL of a plant, e.g. http://127.0.0.1:8080/plant/1000; "
                                  "runs the client session (b) after the metadata checks")
    args = ap.parse_args()
    try:
        check_metadata()
        if args.url:
            run_session(args.url)
    except CheckFailed as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"FAIL: HTTP: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
