"""The HTTP control API against a real SMSC: every endpoint, its errors, and its OpenAPI description.

Every response a test receives is validated against the schema openapi.yaml gives for that route
and status, so the document cannot drift from the code.
"""

from __future__ import annotations

import http.client
import json
import socket
from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterator

import pytest
import yaml
from jsonschema import Draft202012Validator

from simulator.clock import VirtualClock
from simulator.config import Account, ServerConfig, default_config
from simulator.control import ControlApi, HttpError
from simulator.harness.esme import SyncEsme
from simulator.harness.runner import ThreadedServer
from tests.test_interop_kannel import wait_until

SPEC: dict[str, Any] = yaml.safe_load(resources.files("simulator.control").joinpath("openapi.yaml").read_text())
MOBILE = "33612345678"  # a French (SFR) mobile on the default network


def _schema_validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at a JSON pointer in the spec, resolving its #/components refs."""
    return Draft202012Validator({**SPEC, "$ref": pointer})


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class Client:
    """A keep-alive HTTP client that checks every answer against the OpenAPI description."""

    def __init__(self, api: ControlApi, port: int) -> None:
        self.api = api
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any, http.client.HTTPResponse]:
        """Send a request; return status, parsed JSON body and the response."""
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        document = json.loads(response.read())
        assert response.getheader("Content-Type") == "application/json"
        self._check(method, path.split("?")[0], response.status, document)
        return response.status, document, response

    def _check(self, method: str, path: str, status: int, document: Any) -> None:
        try:
            route, _ = self.api.router.resolve(method, path)
        except HttpError:
            # No route: the generic 404/405 answers, described by the Error schema.
            assert status in (404, 405)
            pointer = _pointer("components", "schemas", "Error")
        else:
            responses = SPEC["paths"][route.pattern][method.lower()]["responses"]
            assert str(status) in responses, f"{method} {route.pattern} answered {status}, which openapi.yaml does not list"
            pointer = _pointer("paths", route.pattern, method.lower(), "responses", str(status))
            if "$ref" in responses[str(status)]:
                pointer = responses[str(status)]["$ref"]
            pointer = pointer + "/content/application~1json/schema"
        errors = sorted(_schema_validator(pointer).iter_errors(document), key=str)
        assert not errors, f"{method} {path} -> {status}: {errors[0].message} in {document}"

    def get(self, path: str) -> tuple[int, Any]:
        """GET, returning status and body."""
        status, document, _ = self.request("GET", path)
        return status, document

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Any method with a JSON body, returning status and body."""
        status, document, _ = self.request(method, path, body)
        return status, document


def _prepaid_config() -> ServerConfig:
    """The default network: smppclient1 (unlimited, owns every number) and a prepaid account."""
    config = default_config()
    config.accounts.append(Account(system_id="prepaid", password="pw", country="FR", credits=100))
    return config


@contextmanager
def _running(config: ServerConfig, clock: Any = None) -> Iterator[tuple[ThreadedServer, ControlApi, Client]]:
    """A ThreadedServer with its control API started on the server's own loop."""
    with ThreadedServer(config, clock=clock) as threaded:
        assert threaded.server is not None
        api = ControlApi(threaded.server)
        _, port = threaded.call(api.start("127.0.0.1", 0))
        client = Client(api, port)
        try:
            yield threaded, api, client
        finally:
            client.connection.close()
            threaded.call(api.stop())


@pytest.fixture
def sim() -> Iterator[tuple[ThreadedServer, ControlApi, Client]]:
    """The default network on a virtual clock, with its control API on the SMSC's loop."""
    with _running(_prepaid_config(), VirtualClock()) as running:
        yield running


@pytest.fixture
def client(sim: tuple[ThreadedServer, ControlApi, Client]) -> Client:
    """The API client of `sim`."""
    return sim[2]


@pytest.fixture
def esme(sim: tuple[ThreadedServer, ControlApi, Client]) -> Iterator[SyncEsme]:
    """smppclient1 bound as transceiver."""
    threaded = sim[0]
    with SyncEsme(threaded.host, threaded.port) as bound:
        bound.bind("transceiver", "smppclient1", "password")
        yield bound


def _submit(esme: SyncEsme, destination: str = MOBILE, text: str = "hello") -> str:
    response = esme.submit_sm(
        source_addr_ton=5, source_addr="SIMULATOR", dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination, short_message=text.encode()
    )
    return response.message_id


# --- the description -------------------------------------------------------------------------


def test_route_table_and_openapi_paths_are_the_same_set(sim: tuple[ThreadedServer, ControlApi, Client]) -> None:
    documented = {(method.upper(), path) for path, item in SPEC["paths"].items() for method in item if method != "parameters"}
    assert sim[1].router.table() == documented


def test_openapi_document_is_valid_json_schema_with_string_keys() -> None:
    # YAML 1.1 reads a bare `on` or `off` as a boolean: every key and enum value must stay a string.
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert all(isinstance(key, str) for key in node), list(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            assert not any(isinstance(item, bool) for item in node), node
            for item in node:
                walk(item)

    walk(SPEC)
    assert SPEC["openapi"].startswith("3.1")
    for name, schema in SPEC["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


# --- health ----------------------------------------------------------------------------------


def test_healthz_and_readyz(client: Client, sim: tuple[ThreadedServer, ControlApi, Client]) -> None:
    assert client.get("/healthz") == (200, {"status": "ok"})
    status, ready = client.get("/readyz")
    assert status == 200 and ready["ready"] is True and ready["network"] == "default"
    assert ready["smpp"] == f"{sim[0].host}:{sim[0].port}"


def test_readyz_answers_503_once_the_smpp_listener_is_down() -> None:
    with _running(ServerConfig(network="open", accounts=[Account("a", "b")])) as (threaded, _, client):
        assert threaded.server is not None
        threaded.call(threaded.server.stop(grace=0))
        status, body = client.get("/readyz")
        assert status == 503 and body["ready"] is False
        assert client.get("/healthz")[0] == 200  # alive all the same


# --- sessions --------------------------------------------------------------------------------


def test_sessions_list_and_disconnect(client: Client, esme: SyncEsme) -> None:
    status, body = client.get("/sessions")
    (session,) = body["sessions"]
    assert status == 200 and session["system_id"] == "smppclient1" and session["state"] == "BOUND_TRX"
    assert client.send("DELETE", f"/sessions/{session['id']}") == (200, {"closed": 1})
    wait_until(lambda: client.get("/sessions")[1]["sessions"] == [], 5.0, "the session to close")
    status, missing = client.send("DELETE", f"/sessions/{session['id']}")
    assert status == 404 and missing["error"] == "not_found"
    assert client.send("DELETE", "/sessions/abc")[0] == 404


# --- messages --------------------------------------------------------------------------------


def test_messages_list_filter_and_detail_with_timeline(client: Client, esme: SyncEsme) -> None:
    first = _submit(esme, MOBILE, "one")
    second = _submit(esme, "33698765432", "two")
    status, body = client.get("/messages")
    assert status == 200 and body["total"] == 2 and [m["message_id"] for m in body["messages"]] == [first, second]
    assert body["messages"][0]["text"] == "one" and body["messages"][0]["state"] == "ENROUTE"
    # Filters: number with or without '+', account, state (any case), limit keeps the newest.
    assert [m["message_id"] for m in client.get(f"/messages?number=%2B{MOBILE}")[1]["messages"]] == [first]
    assert client.get("/messages?account=prepaid")[1]["total"] == 0
    assert client.get("/messages?state=enroute")[1]["total"] == 2
    limited = client.get("/messages?limit=1")[1]
    assert limited["total"] == 2 and [m["message_id"] for m in limited["messages"]] == [second]

    assert client.send("POST", "/clock/advance", {"by": "5s"})[0] == 200
    assert client.get("/messages?state=DELIVERED")[1]["total"] == 2
    status, detail = client.get(f"/messages/{first}")
    assert status == 200 and detail["state"] == "DELIVERED" and detail["final_at"] is not None
    assert [t["state"] for t in detail["timeline"] if t["kind"] == "state"] == ["ENROUTE", "DELIVERED"]
    assert detail["route"]["operator"] == "SFR" and detail["route"]["price"] == 10 and detail["command"] == "submit_sm"


@pytest.mark.parametrize(
    ("query", "field"),
    [("state=bogus", "state"), ("limit=abc", "limit"), ("limit=0", "limit"), ("colour=red", "colour")],
)
def test_messages_bad_query_names_the_parameter(client: Client, query: str, field: str) -> None:
    status, body = client.get(f"/messages?{query}")
    assert status == 400 and body["field"] == field


def test_unknown_message_is_404(client: Client) -> None:
    status, body = client.get("/messages/nope")
    assert status == 404 and "nope" in body["detail"]


# --- MO and handsets -------------------------------------------------------------------------


def test_inject_mo_reaches_the_bound_account(client: Client, esme: SyncEsme) -> None:
    status, body = client.send("POST", "/mo", {"source": f"+{MOBILE}", "destination": "31244", "text": "hi there"})
    assert status == 202 and body["parts"] == 1
    deliver = esme.next_message(timeout=5)
    assert deliver.source_addr == MOBILE and deliver.destination_addr == "31244" and deliver.short_message == b"hi there"


def test_unroutable_mo_is_422(client: Client) -> None:
    status, body = client.send("POST", "/mo", {"source": f"+{MOBILE}", "destination": "99999", "text": "hi"})
    assert status == 422 and "99999" in body["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source": f"+{MOBILE}", "destination": "31244"}, "text"),
        ({"source": f"+{MOBILE}", "destination": 31244, "text": "hi"}, "destination"),
        ({"source": None, "destination": "31244", "text": "hi"}, "source"),
        ({"source": f"+{MOBILE}", "destination": "31244", "text": "hi", "extra": 1}, "extra"),
    ],
)
def test_mo_field_errors_name_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    status, answer = client.send("POST", "/mo", body)
    assert status == 400 and answer["field"] == field and field in answer["detail"]


def test_handset_state_get_put_and_release(client: Client, esme: SyncEsme) -> None:
    assert client.get(f"/handsets/{MOBILE}") == (200, {"number": f"+{MOBILE}", "state": "on"})
    status, body = client.send("PUT", f"/handsets/%2B{MOBILE}", {"state": "off"})
    assert status == 200 and body == {"number": f"+{MOBILE}", "state": "off", "previous": "on", "released": 0}
    assert client.get("/handsets")[1] == {"handsets": {f"+{MOBILE}": "off"}}
    message_id = _submit(esme)
    client.send("POST", "/clock/advance", {"by": "10s"})
    assert client.get(f"/messages/{message_id}")[1]["state"] == "ENROUTE"  # waiting for the handset
    status, body = client.send("PUT", f"/handsets/{MOBILE}", {"state": "on"})
    assert body["released"] == 1 and body["previous"] == "off"
    assert client.get("/handsets")[1] == {"handsets": {}}


def test_handset_bad_state_is_400(client: Client) -> None:
    status, body = client.send("PUT", f"/handsets/{MOBILE}", {"state": "asleep"})
    assert status == 400 and body["field"] == "state" and "memory_full" in body["detail"]
    status, body = client.send("PUT", f"/handsets/{MOBILE}", {"state": 1})
    assert status == 400 and body["field"] == "state"


# --- clock -----------------------------------------------------------------------------------


def test_clock_get_and_advance(client: Client, esme: SyncEsme) -> None:
    status, clock = client.get("/clock")
    assert status == 200 and clock["kind"] == "virtual" and clock["pending"] == 0 and clock["iso"].startswith("2026-01-01T00:00:00")
    _submit(esme)
    assert client.get("/clock")[1]["pending"] >= 1
    status, advanced = client.send("POST", "/clock/advance", {"by": "2s"})
    assert status == 200 and advanced["now"] == clock["now"] + 2 and advanced["advanced"] == 2 and advanced["fired"] >= 1
    assert client.send("POST", "/clock/advance", {"by": 1.5})[1]["now"] == clock["now"] + 3.5


@pytest.mark.parametrize("by", ["soon", True, -1, None, [1]])
def test_clock_advance_rejects_bad_durations(client: Client, by: Any) -> None:
    status, body = client.send("POST", "/clock/advance", {"by": by})
    assert status == 400 and body["field"] == "by"


def test_advancing_a_real_clock_is_409() -> None:
    with _running(ServerConfig(network="open", accounts=[Account("a", "b")])) as (_, _, client):
        assert client.get("/clock")[1]["kind"] == "real"
        status, body = client.send("POST", "/clock/advance", {"by": "1s"})
        assert status == 409 and "virtual" in body["detail"]


# --- accounts and credits --------------------------------------------------------------------


def test_accounts_credits_and_top_up(client: Client) -> None:
    accounts = {a["system_id"]: a for a in client.get("/accounts")[1]["accounts"]}
    assert accounts["smppclient1"]["unlimited"] is True and accounts["prepaid"]["balance"] == 100
    status, credits = client.get("/accounts/prepaid/credits?country=FR")
    assert status == 200 and credits["balance"] == 100 and credits["available"] == 100 and credits["country"] == "FR"
    status, topped = client.send("POST", "/accounts/prepaid/top-up", {"price": 10})
    assert status == 200 and topped == {"system_id": "prepaid", "added": 1000, "balance": 1100}
    assert client.send("POST", "/accounts/prepaid/top-up", {"credits": 5})[1]["balance"] == 1105
    credits = client.get("/accounts/prepaid/credits")[1]
    assert credits["purchases"][0]["credits"] == 1000 and credits["statistics"]["by_reason"] == {"purchase": 1000, "top-up": 5}


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/accounts/prepaid/top-up", {"price": 7}, 422, None),  # no bundle at that price
        ("/accounts/smppclient1/top-up", {"credits": 5}, 422, None),  # unlimited already
        ("/accounts/nobody/top-up", {"credits": 5}, 404, None),
        ("/accounts/prepaid/top-up", {}, 400, None),
        ("/accounts/prepaid/top-up", {"price": 10, "credits": 5}, 400, None),
        ("/accounts/prepaid/top-up", {"price": "10"}, 400, "price"),
        ("/accounts/prepaid/top-up", {"credits": 0}, 400, "credits"),
        ("/accounts/prepaid/top-up", {"credits": 1.5}, 400, "credits"),
    ],
)
def test_top_up_errors(client: Client, path: str, body: dict[str, Any], status: int, field: str | None) -> None:
    answer_status, answer = client.send("POST", path, body)
    assert answer_status == status and answer.get("field") == field


def test_unknown_account_credits_is_404(client: Client) -> None:
    assert client.get("/accounts/nobody/credits")[0] == 404


# --- stats, reset ----------------------------------------------------------------------------


def test_stats_and_reset(client: Client, esme: SyncEsme) -> None:
    _submit(esme)
    status, stats = client.get("/stats")
    assert status == 200 and stats["server"]["submits"] == 1 and stats["sessions"] == 1
    assert stats["messages"] == 1 and stats["messages_by_state"] == {"ENROUTE": 1}
    client.send("POST", "/faults", {"on": "enquire_link"})
    assert client.send("POST", "/reset") == (200, {"reset": True})
    stats = client.get("/stats")[1]
    assert stats["messages"] == 0 and stats["server"]["submits"] == 0 and stats["fault_rules"] == 0 and stats["pending_events"] == 0
    assert stats["sessions"] == 1  # the gateway stays bound across a reset
    assert esme.enquire_link().command_status == 0


def test_reset_with_a_configuration_runs_with_it_and_closes_the_sessions(sim: tuple[ThreadedServer, ControlApi, Client], esme: SyncEsme) -> None:
    threaded, _, client = sim
    _submit(esme)
    config = {
        "seed": 5,
        "network": "open",
        "smsc": {"message_id_format": "decimal", "report_congestion": True},
        "accounts": [{"system_id": "shop", "password": "pw", "throttle": {"rate": 2, "burst": 2}}],
    }
    assert client.send("POST", "/reset", {"config": config}) == (200, {"reset": True, "reconfigured": True, "sessions_closed": 1})
    wait_until(lambda: client.get("/stats")[1]["sessions"] == 0)
    stats = client.get("/stats")[1]
    assert stats["messages"] == 0 and stats["server"]["binds_ok"] == 0
    assert [a["system_id"] for a in client.get("/accounts")[1]["accounts"]] == ["shop"]
    with SyncEsme(threaded.host, threaded.port) as refused:
        assert refused.bind("transceiver", "smppclient1", "password", check=False).command_status == 0x0F  # ESME_RINVSYSID: gone
    with SyncEsme(threaded.host, threaded.port) as shop:
        shop.bind("transceiver", "shop", "pw", interface_version=0x50)
        first = shop.submit_sm(source_addr="SHOP", destination_addr="anything", short_message=b"x")  # open network
        assert first.message_id.isdigit() and first.tlv("congestion_state") == 50  # 1 of a burst of 2
        assert shop.submit_sm(check=False, source_addr="SHOP", destination_addr="x", short_message=b"x").tlv("congestion_state") == 100


def test_reset_with_an_inline_network_profile(sim: tuple[ThreadedServer, ControlApi, Client]) -> None:
    threaded, _, client = sim
    profile = {"name": "tiny", "coverage": ["FR"], "operators": [{"name": "Orange", "country": "FR"}]}
    config = {"network": profile, "accounts": [{"system_id": "shop", "password": "pw", "country": "FR", "senders": [{"name": "SHOP"}]}]}
    assert client.send("POST", "/reset", {"config": config})[0] == 200
    assert client.get("/readyz")[1]["network"] == "tiny"
    with SyncEsme(threaded.host, threaded.port) as shop:
        shop.bind("transceiver", "shop", "pw")
        text = {"source_addr_ton": 5, "source_addr": "SHOP", "short_message": b"hi"}
        assert shop.submit_sm(check=False, destination_addr="+33612345678", **text).command_status == 0
        refused = shop.submit_sm(check=False, destination_addr="+447700900123", **text)  # the default network covers every country
        assert refused.command_status != 0
    messages = client.get("/messages")[1]["messages"]
    assert [(m["account"], m["destination"]) for m in messages] == [("shop", "+33612345678")]


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"config": {"accounts": [{"system_id": "shop", "password": "pw", "window": 0}]}}, "config.accounts[0].window", "must be at least 1"),
        ({"config": {"smsc": {"colour": "red"}}}, "config.smsc.colour", "unknown key"),
        ({"config": {"network": "atlantis"}}, "config.network", "not a built-in profile"),
        ({"config": {"network": "/etc/hostname"}}, "config.network", "send the profile itself"),
        ({"config": {"network": {"name": "x", "coverage": "FR"}}}, "config.network.coverage", "POST /reset config:1: network.coverage"),
        ({"config": {"smsc": {"pdu_log": 0}}}, "config.smsc.pdu_log", "cannot be switched off"),
        ({"config": {}, "colour": "red"}, "colour", "unknown field"),
        ({"config": [1]}, "config", "an object"),
    ],
)
def test_reset_with_a_bad_configuration_changes_nothing(client: Client, esme: SyncEsme, body: dict[str, Any], field: str, words: str) -> None:
    status, error = client.send("POST", "/reset", body)
    assert status == 400 and error["field"] == field and words in error["detail"], error
    assert client.get("/stats")[1]["sessions"] == 1 and esme.enquire_link().command_status == 0
    assert [a["system_id"] for a in client.get("/accounts")[1]["accounts"]] == ["smppclient1", "prepaid"]


def test_throttle_counters_with_clock_times(client: Client, esme: SyncEsme) -> None:
    statuses = [
        esme.submit_sm(check=False, source_addr="SIMULATOR", destination_addr=MOBILE, short_message=b"x").command_status
        for _ in range(7)
    ]
    assert statuses.count(0) == 5  # the default profile: 5/s, burst 5, on a clock that does not move
    status, report = client.get("/throttles?limit=1")
    assert status == 200 and report["trips"]["total"] == 2 and report["trips"]["by_scope"] == {"account": 2}
    [trip] = report["trips"]["recent"]
    assert trip["account"] == "smppclient1" and trip["reaction"] == "ESME_RTHROTTLED" and trip["at"] == client.get("/clock")[1]["now"]
    layer = next(t for t in report["throttles"] if t["account"] == "smppclient1")
    assert (layer["passed"], layer["trips"]) == (5, 2)
    assert client.get("/throttles?colour=red")[0] == 400


# --- PDU log ---------------------------------------------------------------------------------


def test_pdus_with_filters_and_paging(client: Client, esme: SyncEsme) -> None:
    message_id = _submit(esme)
    status, body = client.get("/pdus")
    commands = [(p["direction"], p["command"]) for p in body["pdus"]]
    assert status == 200 and commands[:2] == [("in", "bind_transceiver"), ("out", "bind_transceiver_resp")]
    assert ("in", "submit_sm") in commands and body["next_since"] == body["pdus"][-1]["index"]
    (resp,) = client.get("/pdus?command=submit_sm_resp")[1]["pdus"]
    assert resp["fields"]["message_id"] == message_id and resp["status_name"] == "ESME_ROK"
    (submit,) = client.get("/pdus?command=submit_sm,deliver_sm&direction=in")[1]["pdus"]
    assert submit["text"] == "hello" and submit["system_id"] == "smppclient1"
    first = client.get("/pdus?limit=1")[1]
    assert len(first["pdus"]) == 1
    rest = client.get(f"/pdus?since={first['next_since']}")[1]
    assert [p["index"] for p in rest["pdus"]] == [p["index"] for p in body["pdus"][1:]]
    assert client.get(f"/pdus?since={body['next_since']}")[1] == {"pdus": [], "next_since": body["next_since"]}


@pytest.mark.parametrize(
    ("query", "field"), [("direction=sideways", "direction"), ("since=-1", "since"), ("command=submit", "command"), ("limit=x", "limit")]
)
def test_pdus_bad_query_names_the_parameter(client: Client, query: str, field: str) -> None:
    status, body = client.get(f"/pdus?{query}")
    assert status == 400 and body["field"] == field


def test_pdus_with_the_log_disabled_is_409() -> None:
    config = ServerConfig(network="open", accounts=[Account("a", "b")])
    config.smsc.pdu_log = 0
    with _running(config) as (_, _, client):
        assert client.get("/pdus")[0] == 409


# --- fault rules -----------------------------------------------------------------------------


def test_faults_install_fire_list_and_delete(client: Client, esme: SyncEsme) -> None:
    status, rule = client.send(
        "POST",
        "/faults",
        {"on": "submit_sm", "match": {"destination_addr": MOBILE}, "do": {"status": "ESME_RTHROTTLED"}, "times": 1, "name": "busy"},
    )
    assert status == 201 and rule["do"] == {"status": "ESME_RTHROTTLED"} and rule["times"] == 1 and rule["hits"] == 0
    refused = esme.submit_sm(source_addr_ton=5, source_addr="SIMULATOR", dest_addr_ton=1, destination_addr=MOBILE, check=False)
    assert refused.command_status == 0x58
    assert client.get(f"/faults/{rule['id']}")[1]["hits"] == 1
    assert [r["id"] for r in client.get("/faults")[1]["rules"]] == [rule["id"]]
    fired = client.get("/faults/fired")[1]
    assert fired["fired_total"] == 1
    (firing,) = fired["fired"]
    assert (firing["rule"], firing["name"], firing["command"], firing["action"]) == (rule["id"], "busy", "submit_sm", "status ESME_RTHROTTLED")
    assert firing["sequence_number"] == refused.sequence_number and firing["at"].endswith("+00:00")
    status, permanent = client.send("POST", "/faults", {"on": ["enquire_link"], "do": {"delay": "250ms"}, "ordered": True})
    assert status == 201 and permanent["do"] == {"delay": "250ms"} and permanent["times"] is None
    assert client.send("DELETE", f"/faults/{rule['id']}") == (200, {"deleted": rule["id"]})
    assert client.send("DELETE", f"/faults/{rule['id']}")[0] == 404
    assert client.get("/faults/999999")[0] == 404
    assert [r["id"] for r in client.get("/faults")[1]["rules"]] == [permanent["id"]]
    assert client.get(f"/faults/fired?rule={permanent['id']}")[1]["fired"] == []
    assert client.send("DELETE", "/faults") == (200, {"deleted": 1})
    assert client.get("/faults")[1] == {"rules": [], "fired_total": 0}


def test_a_fault_with_a_regex_matcher_and_a_window_over_json(client: Client, esme: SyncEsme) -> None:
    body = {"on": "submit_sm", "match": {"destination_addr": {"regex": "^336"}}, "every": 2, "until": "1h", "do": "generic_nack"}
    status, rule = client.send("POST", "/faults", body)
    assert status == 201 and rule["every"] == 2 and rule["until"] == 3600.0 and rule["do"] == {"generic_nack": "ESME_RSYSERR"}
    assert rule["match"] == body["match"]  # as written: a listed rule's matchers can be posted again
    answers = [esme.submit_sm(source_addr_ton=5, source_addr="SIMULATOR", destination_addr=MOBILE, check=False) for _ in range(4)]
    assert [a.command_name for a in answers] == ["submit_sm_resp", "generic_nack", "submit_sm_resp", "generic_nack"]
    assert client.get(f"/faults/{rule['id']}")[1]["seen"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"on": "submit"}, "on"),
        ({"on": ["submit_sm", 3]}, "on"),
        ({"do": {"status": "ESME_NOPE"}}, "do.status"),
        ({"do": {"status": 1.5}}, "do.status"),
        ({"do": {"delay": "later"}}, "do.delay"),
        ({"do": {"delay": {"dist": "uniform", "min": "2s", "max": "1s"}}}, "do.delay.max"),
        ({"do": {"close": "during"}}, "do.close"),
        ({"do": "explode"}, "do"),
        ({"do": {"malformed": "checksum"}}, "do.malformed.field"),
        ({"times": 0}, "times"),
        ({"nth": 2, "every": 3}, "every"),
        ({"probability": 1.5}, "probability"),
        ({"after": "10s", "until": "5s"}, "until"),
        ({"do": {"respond": "no"}}, "do.respond"),
        ({"on": "deliver_sm", "do": {"status": "ESME_RSYSERR"}}, "do.status"),
        ({"match": {"command_status": "ESME_NOPE"}}, "match"),
        ({"match": []}, "match"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_fault_errors_name_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    status, answer = client.send("POST", "/faults", body)
    assert status == 400 and answer["field"] == field, answer
    assert client.get("/faults")[1]["rules"] == []


# --- HTTP protocol errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b"{not json", "malformed JSON"), (b"", "body is required"), (b"[1, 2]", "JSON object"), (b'{"text": "\xff"}', "UTF-8")],
)
def test_bad_json_is_400_and_the_connection_survives(client: Client, raw: bytes, words: str) -> None:
    status, body, _ = client.request("POST", "/mo", raw=raw)
    assert status == 400 and words in body["detail"]
    assert client.get("/healthz")[0] == 200  # same keep-alive connection


def test_unknown_route_is_404_and_wrong_method_is_405_with_allow(client: Client) -> None:
    status, body = client.get("/nowhere")
    assert status == 404 and body["error"] == "not_found"
    status, body, response = client.request("DELETE", "/clock")
    assert status == 405 and response.getheader("Allow") == "GET" and body["error"] == "method_not_allowed"
    status, _, response = client.request("PATCH", "/faults")
    assert status == 405 and response.getheader("Allow") == "DELETE, GET, POST"


def _raw_exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes (then end our side if half_close); return everything until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"HELLO\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/2.0\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"POST /mo HTTP/1.1\r\nContent-Length: lots\r\n\r\n", b"400"),
        (b"POST /mo HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", b"413"),
        (b"POST /mo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"501"),
        (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"400"),  # the head ends with the connection
        (b"", b""),  # a connection closed without a request gets no answer
    ],
)
def test_malformed_requests_get_an_error_and_close(sim: tuple[ThreadedServer, ControlApi, Client], request_bytes: bytes, status: bytes) -> None:
    received = _raw_exchange(sim[1].http.address[1], request_bytes, half_close=True)
    if status:
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == status and b"Connection: close" in head
        errors = list(_schema_validator(_pointer("components", "schemas", "Error")).iter_errors(json.loads(body)))
        assert not errors
    else:
        assert received == b""
    assert sim[2].get("/healthz")[0] == 200  # the server lives on


def test_keep_alive_and_http_1_0_close(sim: tuple[ThreadedServer, ControlApi, Client]) -> None:
    port = sim[1].http.address[1]
    received = _raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /clock HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert received.count(b"HTTP/1.1 200 OK") == 2 and b'"kind": "virtual"' in received
    received = _raw_exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in received


def test_expect_100_continue(sim: tuple[ThreadedServer, ControlApi, Client]) -> None:
    port = sim[1].http.address[1]
    body = json.dumps({"by": 1}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /clock/advance HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert b"200 OK" in received and b'"fired"' in received


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/faults", {"on": 5}, "on"),
        ("POST", "/faults", {"on": "submit_sm", "do": {"generic_nack": 1.5}}, "do.generic_nack"),
        ("POST", "/faults", {"on": "submit_sm", "do": {"status": 4294967296}}, "do.status"),
        ("GET", "/faults/fired?rule=abc", None, "rule"),
        ("GET", "/conformance?account=nobody", None, "account"),
        ("GET", "/conformance?checks=", None, "checks"),
        ("GET", "/conformance?deliver_response_ms=inf", None, "deliver_response_ms"),
        ("GET", "/conformance?throttle_statuses=99999999999", None, "throttle_statuses"),
    ],
)
def test_bad_fault_and_conformance_requests_are_400_naming_the_field(client: Client, method: str, path: str, body: object, field: str) -> None:
    status, answer = client.send(method, path, body) if body is not None else client.get(path)
    assert status == 400 and answer["field"] == field, answer
