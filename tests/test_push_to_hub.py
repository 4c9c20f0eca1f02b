"""`student.push_to_hub`: `distill train` pushes the merged student and its model card to a Hub.
The Hub is a real HTTP server on 127.0.0.1 (`HF_ENDPOINT`) that implements the four endpoints
`huggingface_hub` calls for create_repo + upload_folder (repo creation, the model card's YAML
check, preupload, commit) and keeps every file that arrives, so the test compares them byte for
byte with the run folder."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("huggingface_hub")

import evalkit  # noqa: E402

from tests.conftest import distill  # noqa: E402


class FakeHub:
    """Repos created, files committed (path → bytes) and the Authorization headers seen."""

    def __init__(self) -> None:
        self.repos: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, bytes]] = {}
        self.auth: set[str | None] = set()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, code: int, obj: Any) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.auth.add(self.headers.get("authorization"))
                parts = self.path.split("?")[0].strip("/").split("/")
                if self.path == "/api/repos/create":
                    repo = json.loads(body)
                    hub.repos.append(repo)
                    self._json(200, {"url": f"{hub.url}/{repo['organization']}/{repo['name']}"})
                elif self.path == "/api/validate-yaml":
                    self._json(200, {"errors": [], "warnings": []})
                elif parts[:2] == ["api", "models"] and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    modes = [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files
                    ]
                    self._json(200, {"files": modes})
                elif parts[:2] == ["api", "models"] and parts[4] == "commit":
                    repo = "/".join(parts[2:4])
                    for line in body.decode().splitlines():
                        op = json.loads(line)
                        if op["key"] == "file":
                            v = op["value"]
                            assert v["encoding"] == "base64"
                            hub.files.setdefault(repo, {})[v["path"]] = base64.b64decode(
                                v["content"]
                            )
                    sha = "0" * 40
                    self._json(
                        200, {"commitUrl": f"{hub.url}/{repo}/commit/{sha}", "commitOid": sha}
                    )
                else:
                    self._json(404, {"error": f"not in this Hub: {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as h:
        yield h


PUSH = {"push_to_hub": True, "hub_model_id": "acme/tickets-student"}


def test_train_pushes_the_merged_student_and_its_card(tmp_path: Path, hub: FakeHub) -> None:
    pytest.importorskip("trl")
    cfg = evalkit.make_run(tmp_path, student={**evalkit.LORA_STUDENT, **PUSH})
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_test_write", "HF_HUB_DISABLE_TELEMETRY": "1"}
    r = distill("train", str(cfg.config_path), env=env, timeout=400)
    assert r.returncode == 0, r.stderr
    assert f"pushed: {hub.url}/acme/tickets-student/commit/" in r.stdout

    assert [(x["organization"], x["name"], x["visibility"]) for x in hub.repos] == [
        ("acme", "tickets-student", "private")
    ], "hub_private: true is the default"
    assert hub.auth == {"Bearer hf_test_write"}
    got = hub.files["acme/tickets-student"]
    merged = cfg.paths.merged
    local = {
        p.relative_to(merged).as_posix(): p.read_bytes() for p in merged.rglob("*") if p.is_file()
    }
    assert got == local, "exactly the merged folder, byte for byte"
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(got)
    assert "adapter_config.json" not in got and not any(p.startswith("checkpoints") for p in got)
    card = got["README.md"].decode()
    assert "library_name: transformers" in card and 'path = "."' in card, "the merged card"


def test_push_needs_a_token_and_a_repo_id_before_any_training(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path, student={**evalkit.LORA_STUDENT, **PUSH})
    r = distill("train", str(cfg.config_path), env={"HF_TOKEN": ""})
    assert r.returncode == 2 and "no token in $HF_TOKEN" in r.stderr
    assert "Traceback" not in r.stderr and not cfg.paths.student.exists(), "nothing trained"

    raw = yaml.safe_load(cfg.config_path.read_text())
    raw["student"].pop("hub_model_id")
    cfg.config_path.write_text(yaml.safe_dump(raw))
    r = distill("train", str(cfg.config_path), env={"HF_TOKEN": "hf_x"})
    assert r.returncode == 2 and 'hub_model_id: "owner/name"' in r.stderr
    assert "Traceback" not in r.stderr


def test_distill_run_checks_the_token_before_it_sends_or_trains(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path, student={**evalkit.LORA_STUDENT, **PUSH})
    r = distill("run", str(cfg.config_path), env={"HF_TOKEN": ""})
    assert r.returncode == 2 and "no token in $HF_TOKEN" in r.stderr
    assert "Traceback" not in r.stderr and not cfg.paths.student.exists(), "nothing trained"
