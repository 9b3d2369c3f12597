"""`make lab`, the README's way into the notebooks, starts JupyterLab and it answers, as root too: containers often run
as root, and Jupyter exits at once as root unless told it is meant (`make lab` tells it then)."""
import os, subprocess
from pathlib import Path

import httpx

from conftest import die_with_parent, free_port, stop_group, wait_ready

ROOT = Path(__file__).resolve().parents[1]


def test_make_lab_starts_and_answers(tmp_path):
    port, log = free_port(), tmp_path / "lab.log"
    venv = os.environ.get("VIRTUAL_ENV") or str(ROOT / ".venv")
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token="
    with open(log, "w") as out:
        p = subprocess.Popen(["timeout", "-k", "5", "300", "make", "-s", "-C", str(ROOT), "lab", f"VENV={venv}",
                              "-o", f"{venv}/bin/.installed", f"LAB_ARGS={args}"],
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
                             env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    try:
        wait_ready(p, f"http://127.0.0.1:{port}/api/status", log, 120, what="JupyterLab")  # fails if lab exits
        assert "started" in httpx.get(f"http://127.0.0.1:{port}/api/status").json()
        assert httpx.get(f"http://127.0.0.1:{port}/lab").status_code == 200
    finally:
        stop_group(p)
