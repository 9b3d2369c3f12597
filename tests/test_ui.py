"""`mlpuzzle ui` serves the MLflow UI of the workspace's store on 127.0.0.1, and stops when told."""
import json, os, signal, socket, subprocess, time, urllib.request

from conftest import MLPUZZLE, free_port


def test_ui_serves_the_workspace_store(cli, tmp_path):
    ws = tmp_path / "ws"
    assert cli("simulate", "-w", ws, "--days", "2", "--rows-per-day", "20").returncode == 0
    port = free_port()
    p = subprocess.Popen([str(MLPUZZLE), "ui", "-w", str(ws), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        # It answers in about 9 s on 2 idle cores; the deadline is for a machine busy with the other tests.
        deadline, body = time.monotonic() + 120, None
        while time.monotonic() < deadline and body is None and p.poll() is None:
            try: body = urllib.request.urlopen(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10", timeout=2).read()
            except OSError: time.sleep(0.5)
        assert p.poll() is None, f"the UI stopped (exit {p.returncode}): {p.stdout.read().decode()[-2000:]}"
        assert body is not None, "the UI did not answer within 120 s"
        assert "experiments" in json.loads(body)
        with socket.socket() as s:  # bound to loopback only
            assert s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        os.killpg(p.pid, signal.SIGTERM); p.wait(20)
    assert str(ws / "mlflow" / "mlflow.db") in p.stdout.read().decode()
