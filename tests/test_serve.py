"""The online service as clients meet it: `mlpuzzle serve` on 127.0.0.1 in a subprocess, spoken to over HTTP.

Valid requests get predictions in the documented shape; every kind of bad request gets a 4xx naming the
field and what it allows (never a 5xx); the operational endpoints answer; a promotion under load fails no
request; a broken new version leaves the old one serving; online predictions equal batch scoring; and
schemathesis, fuzzing the service's own OpenAPI document, meets no server error."""
import collections, json, os, pickle, re, selectors, socket, subprocess, sys, threading, time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from mlpuzzle.base.core import ModelError
from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.models.model import train
from mlpuzzle.models.tracking import track
from mlpuzzle.models.registry import load_version, promote, propose, register, rollback, version_info
from mlpuzzle.serving.score import score
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.data.labels import ingest_labels, training_set
from mlpuzzle.data.store import ingest

from conftest import MLPUZZLE, die_with_parent, free_port, stop_group, wait_ready

TOKEN = "s3cret-token-for-tests"
POLL = 2.0  # the service's default registry poll interval


# --- a workspace with a champion, and the real server on it ---

def new_version(ws, data, seed: int = 0) -> int:
    "Train, track and register a model on `data`; return its version (not promoted)."
    with threadpool_limits(1): r = train(data, ws.spec, seed=seed)  # OpenMP threads crawl on a busy 2-core machine
    return register(ws, r.model, track(ws, r), {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]})


def build_workspace(d: Path, seed: int = 2):
    "A workspace of 40 simulated days whose first model (version 1) is the champion: (ws, simulation)."
    sim = simulate(40, "none", seed=seed, rows_per_day=150)
    ws = init_workspace(d, churn_spec({"kind": "dataframe"}))
    ingest(ws, df=sim.events, profile=False)
    ingest_labels(ws, df=sim.labels)
    data = training_set(ws)
    v = new_version(ws, data)
    assert v == 1 and propose(ws, v, data.tail(1000)).promote
    return ws, sim, data


def records(df: pd.DataFrame) -> list[dict]:
    "Rows of simulated events as a client sends them (NaN as null, times in ISO 8601)."
    return json.loads(df.to_json(orient="records", date_format="iso"))


@contextmanager
def running_server(ws_dir: Path, env: dict | None = None, lifetime: int = 900, args: tuple = ()):
    "Run `mlpuzzle serve -w ws_dir [ARGS]` on a free port (own session; ends after `lifetime` s at most); yield its URL."
    port, logf = free_port(), Path(ws_dir).parent / f"serve-{time.time_ns()}.log"
    with open(logf, "w") as out:
        p = subprocess.Popen(["timeout", "-k", "5", str(lifetime), str(MLPUZZLE), "serve", "-w", str(ws_dir), "--port", str(port), *args],
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
                             env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(p, f"{url}/ready", logf, 90, every=0.2)
        yield url
    finally:
        stop_group(p)


def wait_for(check, timeout: float = 5 * POLL + 10, every: float = 0.25):
    "Call `check()` until it returns a truthy value (returned) or `timeout` passes (AssertionError)."
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = check()
        if last: return last
        time.sleep(every)
    raise AssertionError(f"still not true after {timeout:.0f} s (last: {last!r})")


def copy_of(built_ws, d: Path):
    "A copy in `d` of the (ws, simulation, data) of `build_workspace` (its MLflow store re-points itself when opened)."
    import shutil
    from mlpuzzle.base.workspace import Workspace
    ws, sim, data = built_ws
    return Workspace(shutil.copytree(ws.path, d)), sim, data


@pytest.fixture(scope="module")
def untouched(tmp_path_factory):
    "The module's workspace as built, never served: tests that change a workspace (versions, promotions) copy it."
    return build_workspace(tmp_path_factory.mktemp("serve") / "ws")


@pytest.fixture(scope="module")
def built(untouched, tmp_path_factory):
    "A copy of it that the module's servers run on (they write their profiles into it)."
    return copy_of(untouched, tmp_path_factory.mktemp("served") / "ws")


@pytest.fixture(scope="module")
def url(built):
    with running_server(built[0].path) as u: yield u


@pytest.fixture(scope="module")
def token_url(built):
    "A second server on the same workspace that wants `Authorization: Bearer TOKEN` on all but /health and /ready."
    with running_server(built[0].path, env={"MLPUZZLE_TOKEN": TOKEN}) as u: yield u


@pytest.fixture
def client(url):
    with httpx.Client(base_url=url, timeout=30) as c: yield c


@pytest.fixture(scope="module")
def good(built) -> dict:
    "A valid record (no id, no time)."
    return {k: v for k, v in records(built[1].events.head(1))[0].items() if k not in ("customer_id", "event_time")}


# --- a. valid requests ---

def test_single_record(client, good, built):
    r = client.post("/predict", json=good)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "model_version", "prediction", "probabilities"}
    assert body["model_version"] == 1 and body["prediction"] in (0, 1)
    assert set(body["probabilities"]) == {"1"} and 0 <= body["probabilities"]["1"] <= 1
    assert r.headers["x-request-id"] == body["request_id"]
    with_id = client.post("/predict", json=records(built[1].events.head(1))[0]).json()
    assert with_id["id"] == built[1].events.customer_id.iloc[0] and with_id["probabilities"] == body["probabilities"]
    assert with_id["request_id"] != body["request_id"]


@pytest.mark.parametrize("n", [2, 40])  # below and above the service's few-records path
def test_batch_keeps_order(client, built, n):
    rows = records(built[1].events.iloc[100:100 + n])[::-1]
    r = client.post("/predict", json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "model_version", "predictions"} and body["model_version"] == 1
    assert [p["id"] for p in body["predictions"]] == [x["customer_id"] for x in rows]
    assert all(set(p) == {"id", "prediction", "probabilities"} for p in body["predictions"])
    singles = [client.post("/predict", json=x).json()["probabilities"] for x in rows[:3]]
    assert [p["probabilities"] for p in body["predictions"][:3]] == singles


# --- b. invalid requests: a 4xx naming the field and what it allows, never a 5xx ---

def _json(obj) -> dict: return {"content": json.dumps(obj).encode(), "headers": {"content-type": "application/json"}}
def _raw(b: bytes, ct="application/json") -> dict: return {"content": b, "headers": {"content-type": ct}}
def _with(**kw): return lambda g: _json({**g, **kw})
def _without(k): return lambda g: _json({f: v for f, v in g.items() if f != k})
def _literal(key, text: str, enc="ascii"):
    "A record whose `key` holds `text` verbatim in the JSON (for what json.dumps will not write)."
    return lambda g: _raw(json.dumps({**g, key: "@@"}).replace('"@@"', text).encode(enc))
def _chunks(b: bytes, n=64_000):
    for i in range(0, len(b), n): yield b[i:i + n]

# id: (request from a valid record, status, field named, text the problem must contain: what is allowed or expected)
BAD = {
    "missing field": (_without("plan"), 422, "plan", "Field required"),
    "unknown field": (_with(colour="red"), 422, "colour", "not permitted"),
    "string for integer": (_with(seats="lots"), 422, "seats", "integer"),
    "string for number": (_with(usage_hours="lots"), 422, "usage_hours", "number"),
    "numeric string for integer": (_with(seats="3"), 422, "seats", "integer"),
    "numeric string for number": (_with(usage_hours="15.5"), 422, "usage_hours", "number"),
    "number for categorical": (_with(plan=3), 422, "plan", "'basic', 'plus' or 'pro'"),
    "string for boolean": (_with(autopay="maybe"), 422, "autopay", "boolean"),
    "yes-string for boolean": (_with(autopay="yes"), 422, "autopay", "boolean"),
    "number for boolean": (_with(autopay=1), 422, "autopay", "boolean"),
    "boolean for integer": (_with(seats=True), 422, "seats", "integer"),
    "below min": (_with(seats=0), 422, "seats", '"allowed": {"ge": 1}'),
    "above max": (_with(days_since_login=366), 422, "days_since_login", '"allowed": {"le": 365}'),
    "non-integer for integer": (_with(tenure_days=2.5), 422, "tenure_days", "integer"),
    "unknown category": (_with(region="mars"), 422, "region", "'north', 'south', 'east' or 'west'"),
    "null for non-nullable": (_with(tenure_days=None), 422, "tenure_days", "integer"),
    "NaN literal": (_with(usage_hours=float("nan")), 422, "usage_hours", "finite"),
    "Infinity literal": (_with(monthly_fee=float("inf")), 422, "monthly_fee", "finite"),
    "-Infinity literal in integer": (_with(seats=float("-inf")), 422, "seats", "finite"),
    "huge number 1e400": (_literal("usage_hours", "1e400"), 422, "usage_hours", "finite"),
    "integer of 5000 digits": (_literal("seats", "9" * 5000), 400, None, "not valid JSON"),
    "nested object as value": (_with(plan={"name": "basic"}), 422, "plan", "'basic', 'plus' or 'pro'"),
    "list as value": (_with(usage_hours=[1.0, 2.0]), 422, "usage_hours", "number"),
    "bad datetime": (_with(event_time="2024-13-45T25:00:00"), 422, "event_time", "datetime"),
    "number for datetime": (_with(event_time=0), 422, "event_time", "datetime"),
    "float for id": (_with(customer_id=1.5), 422, "customer_id", "string"),
    "unicode garbage in categorical": (_with(plan="pr\u00f6\u202e\U0001f4a5\x00"), 422, "plan", "'basic', 'plus' or 'pro'"),
    "lone surrogate in categorical": (_literal("plan", '"\\ud800"'), 422, "plan", None),
    "lone surrogate in id": (_literal("customer_id", '"\\udc00"'), 422, "customer_id", None),
    "invalid UTF-8": (_literal("plan", '"\xff"', "latin-1"), 400, None, "not valid JSON"),
    "empty object": (lambda g: _json({}), 422, "tenure_days", "Field required"),
    "empty list": (lambda g: _json([]), 422, None, "non-empty list of records"),
    "list of non-objects": (lambda g: _json([1, "two", None]), 422, None, "JSON object"),
    "JSON scalar": (lambda g: _json(42), 422, None, "a record"),
    "JSON null": (lambda g: _json(None), 422, None, "a record"),
    "invalid JSON": (lambda g: _raw(b'{"plan": "basic",'), 400, None, "not valid JSON"),
    "deeply nested JSON": (lambda g: _raw(b"[" * 100_000 + b"]" * 100_000), 400, None, None),
    "one bad record in a batch": (lambda g: _json([g, {**g, "seats": 0}, g]), 422, "seats", '"loc": ["body", 1, "seats"]'),
    "body over the size limit": (lambda g: _raw(json.dumps(g).encode() + b" " * 1_000_001), 413, None, "larger than"),
    "body over the size limit, chunked": (lambda g: {"content": _chunks(json.dumps(g).encode() + b" " * 1_000_001), "headers": {"content-type": "application/json"}}, 413, None, "larger than"),
    "too many records": (lambda g: _json([g] * 1001), 413, None, "at most 1000"),
    "wrong content type": (lambda g: _raw(json.dumps(g).encode(), "text/plain"), 415, None, None),
    "form-encoded body": (lambda g: _raw(b"plan=basic&seats=3", "application/x-www-form-urlencoded"), None, None, None),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_request(url, good, kind):
    make, status, field, text = BAD[kind]
    with httpx.Client(base_url=url, timeout=30) as c:  # a fresh connection: the server may close one after an error
        r = c.post("/predict", **make({**good, "customer_id": "c1", "event_time": "2024-02-01T10:00:00Z"}))
    assert 400 <= r.status_code < 500, f"{kind}: {r.status_code} {r.text[:500]}"
    if status: assert r.status_code == status, f"{kind}: {r.status_code} {r.text[:500]}"
    detail = r.json()["detail"]
    problems = [p for p in detail if p.get("field") == field] if field else detail
    if field: assert problems, f"{kind}: no problem names {field!r}: {detail}"
    if text: assert text in json.dumps(problems), f"{kind}: {text!r} not in {problems}"


def test_many_bad_records_get_a_short_answer(client):
    "1,000 bad records (22 KB) get the first problems and a count of the others, not a megabyte of problems."
    body = json.dumps([{"seats": "x", "plan": 3}] * 1000).encode()
    assert len(body) < 30_000
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text[:500]
    assert len(r.content) < 10_000, f"a {len(body)} byte request drew a {len(r.content)} byte answer"
    *listed, last = r.json()["detail"]
    assert len(listed) == 20 and all(p["field"] and p["loc"][:2] == ["body", 0] for p in listed[:5])
    assert {"seats", "plan"} <= {p["field"] for p in listed}
    assert last["more"] > 10_000 and last["msg"] == f"and {last['more']} more problems (the first 20 are listed)"


def test_get_predict_is_method_not_allowed(client):
    assert client.get("/predict").status_code == 405


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"},
                                     {"authorization": TOKEN}], ids=["missing", "wrong", "basic scheme", "no scheme"])
def test_token_required_when_set(token_url, good, headers):
    r = httpx.post(f"{token_url}/predict", json=good, headers=headers, timeout=30)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer" and "bearer token" in r.json()["detail"]


def test_token_accepted(token_url, good):
    r = httpx.post(f"{token_url}/predict", json=good, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 200 and r.json()["model_version"] == 1


@pytest.mark.parametrize("sent", [f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}", f"beARer {TOKEN}"])
def test_token_scheme_in_any_case(token_url, good, sent):
    "The scheme's name is case-insensitive (RFC 7235) and spaces before the token do no harm."
    r = httpx.post(f"{token_url}/predict", json=good, headers={"authorization": sent}, timeout=30)
    assert r.status_code == 200, r.text
    assert httpx.get(f"{token_url}/model", headers={"authorization": sent}, timeout=30).status_code == 200


GUARDED = ("/model", "/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


@pytest.mark.parametrize("path", [*GUARDED, "/no-such-path"])
def test_token_guards_all_but_the_probes(token_url, path):
    r = httpx.get(f"{token_url}{path}", headers={"authorization": "Bearer wrong"}, timeout=30)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (r.status_code, r.text[:300])
    assert r.json() == {"detail": "missing or wrong bearer token: send `Authorization: Bearer <token>`"}
    assert httpx.get(f"{token_url}{path}", timeout=30).status_code == 401


def test_token_opens_the_guarded_endpoints(token_url):
    auth = {"authorization": f"Bearer {TOKEN}"}
    for path in GUARDED:
        assert httpx.get(f"{token_url}{path}", headers=auth, timeout=30).status_code == 200, path
    assert "roc_auc" in httpx.get(f"{token_url}/model", headers=auth, timeout=30).json()["test_metrics"]
    assert "Record" in httpx.get(f"{token_url}/openapi.json", headers=auth, timeout=30).json()["components"]["schemas"]
    assert httpx.get(f"{token_url}/health", timeout=30).json() == {"status": "ok"}  # the probes need no token
    assert httpx.get(f"{token_url}/ready", timeout=30).json() == {"ready": True, "version": 1}


# --- c. operational endpoints ---

def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_health_ready_model(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "version": 1}
    m = client.get("/model").json()
    assert m["name"] == "churn-demo" and m["version"] == 1 and m["problem"] == "binary"
    assert 0 < m["threshold"] < 1 and "roc_auc" in m["test_metrics"] and m["trained_at"] and m["loaded_at"]


def test_metrics(client, good):
    before = client.get("/metrics").text
    assert client.post("/predict", json=good).status_code == 200
    assert client.post("/predict", json={**good, "seats": 0}).status_code == 422
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for line in text.splitlines():  # the Prometheus text format: comments, or `name{labels} value`
        assert line.startswith("# ") or re.fullmatch(r'[a-z_]+(\{[a-z]+="[^"]*"\})? \S+', line), line
    assert "# TYPE mlpuzzle_requests_total counter" in text and "# TYPE mlpuzzle_serving_version gauge" in text
    for s in ("200", "422"):
        name = f'mlpuzzle_requests_total{{status="{s}"}}'
        assert _metric(text, name) == _metric(before, name) + 1
    assert _metric(text, "mlpuzzle_serving_version") == 1
    buckets = [float(v) for v in re.findall(r'^mlpuzzle_request_seconds_bucket\{le="[^"]+"\} (\S+)$', text, re.M)]
    assert buckets == sorted(buckets) and buckets[-1] == _metric(text, "mlpuzzle_request_seconds_count") > 0


def test_every_request_is_counted(url, good):
    "Whatever its outcome, each /predict request adds one to mlpuzzle_requests_total (the error-rate alert reads it)."
    total = lambda: sum(float(v) for v in re.findall(r'^mlpuzzle_requests_total\{status="\d+"\} (\S+)$', httpx.get(f"{url}/metrics").text, re.M))
    before, statuses = total(), []
    for make, *_ in BAD.values():
        with httpx.Client(base_url=url, timeout=30) as c:
            statuses.append(c.post("/predict", **make({**good, "customer_id": "c1"})).status_code)
    assert total() - before == len(BAD), f"{len(BAD)} requests (statuses {sorted(set(statuses))}), {total() - before:.0f} counted"


def test_docs_and_openapi(client, built):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    doc = client.get("/openapi.json").json()
    rec = doc["components"]["schemas"]["Record"]
    spec = built[0].spec
    assert set(spec["features"]) <= set(rec["properties"]) and rec["additionalProperties"] is False
    assert set(rec["required"]) == {f for f, c in spec["features"].items() if not c["nullable"]}
    assert rec["properties"]["plan"]["enum"] == ["basic", "plus", "pro"]
    assert rec["properties"]["seats"] == {"type": "integer", "minimum": 1, "maximum": 100, "title": "Seats"}
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Record"} in body["oneOf"]


# --- f. online predictions equal batch scoring ---

def test_online_equals_batch(url, built):
    ws, sim, _ = built
    batch = pd.concat([pd.read_parquet(s["path"]) for s in score(ws, profile=False)]).set_index("customer_id")
    rows = records(sim.events)
    online = {}
    with httpx.Client(base_url=url, timeout=60) as c:
        for size in (1000, 32):  # the vectorized path and the few-records path
            got = []
            for i in range(0, len(rows), size):
                r = c.post("/predict", json=rows[i:i + size])
                assert r.status_code == 200, r.text
                got += r.json()["predictions"]
            online[size] = got
        nulls = [x for x in rows if x["monthly_fee"] is None][:50]
        online[1] = [{"id": x["customer_id"], **{k: v for k, v in c.post("/predict", json=x).json().items() if k in ("prediction", "probabilities")}}
                     for x in rows[:100] + nulls]
    assert nulls, "the simulation should have rows without a monthly fee"
    for size, got in online.items():
        o = pd.DataFrame({"id": [p["id"] for p in got], "p": [p["probabilities"]["1"] for p in got],
                          "prediction": [p["prediction"] for p in got]}).set_index("id")
        b = batch.loc[o.index]
        assert (o.prediction.to_numpy() == b.prediction.to_numpy()).all(), f"{size} records a request: other classes than batch scoring"
        diff = np.abs(o.p.to_numpy() - b.p_1.to_numpy()).max()
        assert diff <= 1e-12, f"{size} records a request: probabilities differ from batch scoring by up to {diff}"
    assert len(online[1000]) == len(online[32]) == len(sim.events)


def test_a_request_leaves_history_replayed(tmp_path, untouched):
    """Test requests on a history workspace (events of 2024): a record is profiled under its own event time, one
    without a time under its arrival but making no window; the next monitor still runs in replayed history, with no
    no_data alert and no window past the data."""
    from mlpuzzle.monitoring.monitor import monitor
    from mlpuzzle.monitoring.reference import save_reference
    from mlpuzzle.monitoring.windows import business_now, known_windows
    ws, sim, data = copy_of(untouched, tmp_path / "ws")
    save_reference(ws, 1, data, *load_version(ws, 1))  # what monitoring judges the windows against
    score(ws)
    before, (end, replayed) = known_windows(ws), business_now(ws)
    assert replayed
    rows = records(sim.events.tail(2))
    no_time = {k: v for k, v in rows[1].items() if k != "event_time"}
    online = ws.path / "profiles" / "online"
    with running_server(ws.path) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/predict", json=rows[0]).status_code == 200
        assert c.post("/predict", json=no_time).status_code == 200
        wait_for(lambda: list(online.glob("*/*.arrival.bin")) and list(online.glob(f"{before[-1]}/*.bin")))
    assert known_windows(ws) == before and business_now(ws) == (end, True)
    rep = monitor(ws, deliver_alerts=False, quiet=True)
    assert rep.replayed and rep.windows.window.max() <= before[-1]
    assert not len(rep.alerts) or "no_data" not in set(rep.alerts.kind), rep.alerts


# --- d. a promotion under load ---

def test_promotion_under_load_fails_no_request(tmp_path, untouched):
    ws, sim, data = copy_of(untouched, tmp_path / "ws")
    v2 = new_version(ws, data, seed=1)
    rows = records(sim.events.head(40))
    with running_server(ws.path) as url:
        log, stop = [], threading.Event()

        def stream(name, body):
            with httpx.Client(base_url=url, timeout=30) as c:  # keep-alive
                while not stop.is_set():
                    try:
                        r = c.post("/predict", json=body)
                        log.append((name, time.monotonic(), r.status_code, r.json().get("model_version")))
                    except Exception as e: log.append((name, time.monotonic(), repr(e), None))

        threads = [threading.Thread(target=stream, args=a) for a in (("single", rows[0]), ("batch", rows))]
        for t in threads: t.start()
        try:
            time.sleep(2.5)
            t_promote = time.monotonic()
            promote(ws, v2, reason="test: promotion under load")
            time.sleep(3 * POLL + 2)
        finally:
            stop.set()
            for t in threads: t.join(30)
        assert not [x for x in log if x[2] != 200], f"failed requests: {[x for x in log if x[2] != 200][:5]}"
        for name in ("single", "batch"):
            versions = [v for n, _, _, v in log if n == name]
            assert len(versions) > 10 and versions == sorted(versions) and set(versions) == {1, v2}, (name, versions)
            first_new = min(t for n, t, _, v in log if n == name and v == v2)
            assert first_new - t_promote < 2 * POLL + 3
        assert httpx.get(f"{url}/ready").json() == {"ready": True, "version": v2}


# --- e. a broken new version leaves the old one serving ---

def _break_garbage(path: Path, model): path.write_bytes(b"\x00garbage, not a model" * 10)
def _break_pickle(path: Path, model): path.write_bytes(pickle.dumps(model))
def _break_untrusted(path: Path, model):
    import skops.io as sio
    sio.dump({"model": collections.Counter(a=1)}, path)  # a valid skops file holding a type outside the trusted modules


def _model_file(ws, v) -> Path:
    return Path(urlparse(version_info(ws, v)["source"]).path) / "model.skops"


def _ready(url): return httpx.get(f"{url}/ready", timeout=10).json()


def _move_alias(ws, v):
    "Make version `v` champion the way the MLflow UI would: move the alias, without mlpuzzle's checks."
    from mlpuzzle.models.tracking import mlflow_client
    mlflow_client(ws).set_registered_model_alias(ws.spec["name"], "champion", str(v))


def test_broken_version_leaves_the_old_one_serving(tmp_path, untouched, good):
    ws, sim, data = copy_of(untouched, tmp_path / "ws")
    with running_server(ws.path) as url, httpx.Client(base_url=url, timeout=30) as c:
        for breaker in (_break_garbage, _break_pickle, _break_untrusted):
            v = new_version(ws, data)
            breaker(_model_file(ws, v), load_version(ws, 1)[0])
            with pytest.raises(ModelError):
                promote(ws, v, reason=f"test: {breaker.__name__}")  # mlpuzzle refuses a champion that does not load...
            _move_alias(ws, v)  # ...but the alias can be moved outside mlpuzzle (the MLflow UI, another tool)
            r = wait_for(lambda: (lambda j: j if f"version {v}" in j.get("warning", "") else None)(_ready(url)))
            assert r["ready"] is True and r["version"] == 1 and "still serving version 1" in r["warning"], r
            for _ in range(3):
                p = c.post("/predict", json=good)
                assert p.status_code == 200 and p.json()["model_version"] == 1, p.text
            assert c.get("/model").json()["version"] == 1
            assert _metric(c.get("/metrics").text, "mlpuzzle_serving_version") == 1
        ok = new_version(ws, data)
        promote(ws, ok, reason="test: a good version again")
        assert wait_for(lambda: _ready(url) == {"ready": True, "version": ok})
        assert c.post("/predict", json=good).json()["model_version"] == ok


def test_ready_warning_clears_when_the_served_version_is_champion_again(tmp_path, untouched, good):
    ws, sim, data = copy_of(untouched, tmp_path / "ws")
    with running_server(ws.path) as url:
        v = new_version(ws, data)
        _break_garbage(_model_file(ws, v), None)
        _move_alias(ws, v)
        wait_for(lambda: "warning" in _ready(url))
        rollback(ws, reason="test: back to version 1")
        time.sleep(3 * POLL)
        assert _ready(url) == {"ready": True, "version": 1}, "a warning about a version no longer champion stays"


# --- g. schemathesis on the service's OpenAPI document ---

def test_schemathesis_finds_no_server_error(url, tmp_path):
    st = Path(sys.executable).parent / "st"
    p = subprocess.run([str(st), "run", f"{url}/openapi.json", "--checks", "not_a_server_error", "--max-examples", "100",
                        "--seed", "42", "--workers", "2", "--request-timeout", "30", "--output-truncate", "false",
                        "--phases", "examples,coverage,fuzzing"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", p.stdout), p.stdout[-2000:]


# --- g. served rows are profiled, off the request path, and survive a shutdown ---

def test_served_rows_reach_the_window_profile(built, good, tmp_path):
    import shutil
    from mlpuzzle.base.compat import read_profile
    ws_dir = tmp_path / "ws"  # a copy: the module's other servers write their own profiles into the original
    shutil.copytree(built[0].path, ws_dir, ignore=shutil.ignore_patterns("online"))
    online = ws_dir / "profiles" / "online"
    before = set(online.glob("*/*.bin"))
    rows = records(built[1].events.head(40))
    # what the contract allows but no single column type holds, in one flush window: ids as text and as
    # numbers, an event time in year 9999 and one with an offset (issue 18: every row of such a window was lost)
    odd = [{**good, "customer_id": "s1", "event_time": "2024-02-01T10:00:00Z"}, {**good, "customer_id": 5},
           {**good, "customer_id": 6, "event_time": "9999-12-31T23:59:59Z"},
           {**good, "customer_id": "s2", "event_time": "2024-02-01T10:00:00+05:30"}]
    with running_server(ws_dir) as url, httpx.Client(base_url=url, timeout=30) as c:
        for _ in range(25): assert c.post("/predict", json=good).status_code == 200
        assert c.post("/predict", json=rows).status_code == 200
        assert c.post("/predict", json={**good, "seats": -1}).status_code == 422  # rejected: not profiled
        for r in odd: assert c.post("/predict", json=r).status_code == 200
    mine = sorted(set(online.glob("*/*.bin")) - before)  # SIGTERM: the service flushed its profile on the way out
    # each row in the window of its own event time; the 26 without one by their arrival, in a file that makes no window
    by_window = {p.parent.name: p for p in mine}
    arrival = [p for p in mine if p.name.endswith(".arrival.bin")]
    assert len(arrival) == 1 and set(by_window) == {"2024-01-01T000000", "2024-02-01T000000", "9999-12-31T000000",
                                                    arrival[0].parent.name}, mine
    name = arrival[0].name.split(".")[0]  # the serving process's profiler
    views = {k: read_profile(p) for k, p in by_window.items()}
    n = {k: v.get_column("p_1").get_metric("counts").n.value for k, v in views.items()}
    assert (n[arrival[0].parent.name], n["2024-01-01T000000"], n["2024-02-01T000000"], n["9999-12-31T000000"]) == \
        (26, 40, 2, 1), n
    assert sum(v.get_column("seats").get_metric("counts").n.value for v in views.values()) == 25 + 40 + len(odd)
    counts = [json.loads((p.parent / f"{name}.json").read_text()) for p in mine]
    assert [sum(c[k] for c in counts) for k in ("rows", "lost_rows", "times_replaced")] == [25 + 40 + len(odd), 0, 0]
    assert all("customer_id" not in v.get_columns() and "event_time" not in v.get_columns() for v in views.values())
    # the records that carried an id are logged with their predictions, for monitoring to join with the labels
    logged = pd.concat(pd.read_parquet(p) for p in (ws_dir / "predictions" / "online").glob(f"*/{name}-*.parquet"))
    assert sorted(logged.customer_id) == sorted([r["customer_id"] for r in rows] + ["s1", "5", "6", "s2"])
    odd_logged = logged.set_index("customer_id").loc[["s1", "6", "s2"], "event_time"].astype(str).tolist()
    assert odd_logged == ["2024-02-01 10:00:00+00:00", "9999-12-31 23:59:59+00:00", "2024-02-01 04:30:00+00:00"]
    logged = logged[~logged.customer_id.isin(["s1", "5", "6", "s2"])]
    assert set(logged.model_version) == {1} and logged.p_1.between(0, 1).all()
    assert (logged.event_time.dt.strftime("%Y-%m-%d") == pd.to_datetime([r["event_time"] for r in rows], utc=True).strftime("%Y-%m-%d")).all() or \
        set(logged.set_index("customer_id").event_time.dt.date) == set(pd.to_datetime([r["event_time"] for r in rows], utc=True).date)


# --- issue 33.7: a slowloris client cannot hold the service's connections ---

def closing_times(socks: list, t0: float, wait: float) -> list:
    "Per socket, the seconds from `t0` until the server closed it (None: still open after `wait` s); what it sent is read."
    sel, closed = selectors.DefaultSelector(), {}
    for s in socks: s.setblocking(False); sel.register(s, selectors.EVENT_READ)
    while len(closed) < len(socks) and time.monotonic() < t0 + wait:
        for key, _ in sel.select(timeout=0.2):
            try: data = key.fileobj.recv(65536)
            except (ConnectionResetError, BlockingIOError): data = b""
            if not data: closed[key.fileobj] = time.monotonic() - t0; sel.unregister(key.fileobj)
    sel.close()
    return [closed.get(s) for s in socks]


def test_idle_and_half_sent_connections_are_closed(url, good):
    "With the defaults (a whole request within 10 s), 100 idle or half-sent connections are closed; the service answers."
    host, port = urlparse(url).hostname, urlparse(url).port
    t0 = time.monotonic()
    socks = [socket.create_connection((host, port)) for _ in range(100)]
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    for s in socks[40:70]: s.sendall(head)  # half a head
    for s in socks[70:]: s.sendall(head + b"Content-Length: 500\r\n\r\n" + json.dumps(good)[:100].encode())  # half a body
    try:
        assert httpx.post(f"{url}/predict", json=good, timeout=10).status_code == 200  # meanwhile, others are served
        times = closing_times(socks, t0, 30)
    finally:
        for s in socks: s.close()
    assert None not in times, f"{times.count(None)} of 100 connections still open after 30 s"
    assert 9 < min(times) and max(times) < 20, (min(times), max(times))
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    assert 'status="500"' not in httpx.get(f"{url}/metrics", timeout=10).text  # a body cut short is no server error


def test_connection_limits_from_the_command_line(built, good):
    "--request-timeout 1: an idle connection closed in about a second; --max-connections 5: the 6th gets 503 at once."
    with running_server(built[0].path, args=("--request-timeout", "1", "--max-connections", "5")) as u:
        host, port = urlparse(u).hostname, urlparse(u).port
        t0 = time.monotonic()
        held = [socket.create_connection((host, port)) for _ in range(5)]
        time.sleep(0.3)
        extra = socket.create_connection((host, port)); extra.settimeout(5)
        assert extra.recv(4096).startswith(b"HTTP/1.1 503"), "the 6th connection is refused"
        times = closing_times(held, t0, 10)
        assert None not in times and max(times) < 4, times
        with httpx.Client() as c: assert c.post(f"{u}/predict", json=good, timeout=10).status_code == 200  # room again
