"""Serve the built quick-test page on localhost, against a deployed stage or offline.

Usage::

    python -m tools.web_preview --stage dev         # the real API and Cognito of Dev-*
    python -m tools.web_preview --offline           # recorded responses, fake sign-in

``make preview STAGE=dev`` / ``make preview-offline`` build the page first.

Against a stage, ``config.json`` is made from the stage's stack outputs
(``<Stage>-Data``, ``<Stage>-Service``, ``<Stage>-Web``; AWS credentials
needed); the page then calls the API cross-origin, so the stage must list
``http://localhost:<port>`` in ``allowed_web_origins`` (dev does: 5173).

Offline, the same server plays the API and Cognito with the files in
``assets/web/recorded/`` (answers of the real handler; see its README): the
page shows an "offline preview" banner, sign-in succeeds at once as
``preview@example.com`` (a reviewer), presigned uploads land in memory
(:attr:`PreviewServer.uploads`, which the browser tests read), and feedback
and reviews change an in-memory queue (:attr:`PreviewServer.feedback`). Every response
carries the Content-Security-Policy CloudFront sends
(:func:`stacks.web.headers.content_security_policy`).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from shared.layout import REVIEWERS_GROUP, user_prefix

from stacks.web.headers import content_security_policy

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "assets" / "web" / "dist"
RECORDED = ROOT / "assets" / "web" / "recorded"
DEFAULT_PORT = 5173
OFFLINE_USER = {"sub": "00000000-0000-4000-8000-000000000000", "email": "preview@example.com"}
OFFLINE_SIGNING_KEY = "offline-preview-signing-key-not-a-secret"
OFFLINE_COGNITO = "/_offline/cognito"
"""Path under which the offline server plays Cognito (discovery, authorize, token, logout)."""
OFFLINE_CLIENT_ID = "offline-preview"
RECORDED_ROUTES = {
    "/v1/labels": "labels.json",
    "/v1/faces/search": "faces-search.json",
    "/v1/faces/analyze": "faces-analyze.json",
    "/v1/codes": "codes.json",
}
"""Offline API routes and the recorded answer each returns."""


class PreviewError(Exception):
    """A problem the person running the preview can fix (printed, exit 2)."""


def offline_config(origin: str) -> dict[str, Any]:
    """``config.json`` for the offline preview served at ``origin``."""
    return {
        "stage": "offline",
        "offline": True,
        "region": "local",
        "apiBase": "/v1",
        "authority": f"{origin}{OFFLINE_COGNITO}",
        "clientId": OFFLINE_CLIENT_ID,
        "logoutEndpoint": f"{origin}{OFFLINE_COGNITO}/logout",
        "projectType": "classification",
    }


def stage_config(stage: str, cloudformation: Any) -> tuple[dict[str, Any], list[str]]:
    """``config.json`` for a deployed stage, from its stacks' outputs.

    :returns: the config and the origins besides its own the page must reach
        (the uploads bucket's, for presigned PUTs), for the CSP.
    :raises PreviewError: when a stack or output is missing.
    """
    from tools.aws import ToolError, stack_outputs

    try:
        data = stack_outputs(cloudformation, stage, "Data")
        service = stack_outputs(cloudformation, stage, "Service")
        web = stack_outputs(cloudformation, stage, "Web")
        region = cloudformation.meta.region_name
        config = {
            "stage": stage,
            "region": region,
            "apiBase": service["ApiUrl"].rstrip("/"),
            "authority": f"https://cognito-idp.{region}.amazonaws.com/{data['UserPoolId']}",
            "clientId": web["WebClientId"],
            "logoutEndpoint": f"{web['LoginUrl'].rstrip('/')}/logout",
        }
        bucket = data["UploadsBucketName"]
    except ToolError as exc:
        raise PreviewError(str(exc)) from None
    except KeyError as exc:
        raise PreviewError(f"stage {stage!r} lacks stack output {exc}; redeploy it") from None
    uploads = [f"https://{bucket}.s3.{region}.amazonaws.com", f"https://{bucket}.s3.amazonaws.com"]
    return config, uploads


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


@dataclass
class PreviewServer:
    """The preview HTTP server, run in a background thread.

    :param config: ``config.json`` to serve; ``None`` for the offline one.
    :param port: TCP port on 127.0.0.1 (0: any free port).
    :param connect_sources: extra CSP ``connect-src`` origins (besides the
        config's API, Cognito and login domain).
    """

    config: dict[str, Any] | None = None
    port: int = 0
    connect_sources: list[str] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    """Offline: bytes of every presigned PUT, by S3 key."""
    verbose: bool = False
    """Log every request (a stage preview always logs)."""
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    """Offline: (method, path, JSON body) of every API call and token grant, in order."""
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Offline: feedback items by id, as the review routes show and change them."""
    reviewer: bool = True
    """Offline: the signed-in user is in the Cognito group ``reviewers``."""

    def __post_init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("localhost", self.port), _handler_for(self))
        self.port = self._httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.offline = self.config is None
        config = self.config or {}
        extra = [_origin(config.get(key, "")) for key in ("apiBase", "authority", "logoutEndpoint")]
        self.csp = content_security_policy(
            [o for o in dict.fromkeys([*extra, *self.connect_sources]) if o],
            upgrade_insecure=False,
        )
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> PreviewServer:
        if not (DIST / "index.html").is_file():
            raise PreviewError(f"{DIST} has no build of the page: run 'npm run build:web'")
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(server: PreviewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            if not server.offline or server.verbose:
                super().log_message(format, *args)

        # --- responses ------------------------------------------------------

        def _send(
            self,
            status: int,
            body: bytes = b"",
            content_type: str = "application/json",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", server.csp)
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _origin(self) -> str:
            """The origin the browser used: offline URLs stay same-origin."""
            return f"http://{self.headers.get('Host') or f'127.0.0.1:{server.port}'}"

        def _config(self) -> dict[str, Any]:
            return server.config or offline_config(self._origin())

        def _json(self, status: int, payload: object) -> None:
            self._send(status, json.dumps(payload).encode())

        def _redirect(self, location: str) -> None:
            self._send(HTTPStatus.FOUND, headers={"Location": location})

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        # --- routes ---------------------------------------------------------

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/config.json":
                self._json(200, self._config())
            elif server.offline and path.startswith(f"{OFFLINE_COGNITO}/"):
                self._cognito_get(path.removeprefix(OFFLINE_COGNITO))
            elif server.offline and path.startswith("/v1/"):
                self._api("GET", path, None)
            elif server.offline and path.startswith("/_offline/uploads/"):
                data = server.uploads.get(path.removeprefix("/_offline/uploads/"))
                if data is None:
                    self._send(404, b"not found", "text/plain")
                else:
                    self._send(200, data, "image/jpeg")
            else:
                self._static(path)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if server.offline and path == f"{OFFLINE_COGNITO}/oauth2/token":
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                server.requests.append(("POST", path, {"grant_type": form.get("grant_type")}))
                self._token()
            elif server.offline and path.startswith("/v1/"):
                try:
                    payload = json.loads(body or b"null")
                except ValueError:
                    payload = None
                self._api("POST", path, payload)
            else:
                self._json(404, {"error": {"code": "not_found", "message": path, "field": None}})

        def do_PUT(self) -> None:
            path = urlsplit(self.path).path
            data = self._body()
            if server.offline and path.startswith("/_offline/uploads/"):
                server.uploads[path.removeprefix("/_offline/uploads/")] = data
                self._send(200)
            else:
                self._send(405)

        def _static(self, path: str) -> None:
            relative = "index.html" if path in ("", "/") else path.lstrip("/")
            target = (DIST / relative).resolve()
            if not target.is_relative_to(DIST.resolve()) or not target.is_file():
                self._send(404, b"not found", "text/plain")
                return
            content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(200, target.read_bytes(), content_type)

        # --- offline Cognito (authorization code flow, no password) ----------

        def _cognito_get(self, path: str) -> None:
            issuer = self._config()["authority"]
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": issuer,
                        "authorization_endpoint": f"{issuer}/oauth2/authorize",
                        "token_endpoint": f"{issuer}/oauth2/token",
                        "jwks_uri": f"{issuer}/.well-known/jwks.json",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["HS256"],
                        "scopes_supported": ["openid", "email"],
                    },
                )
            elif path == "/oauth2/authorize":
                answer = urlencode({"code": uuid.uuid4().hex, "state": query["state"]})
                self._redirect(f"{query['redirect_uri']}?{answer}")
            elif path == "/logout":
                self._redirect(query.get("logout_uri", "/"))
            else:
                self._json(404, {"error": "not_found"})

        def _token(self) -> None:
            issuer = self._config()["authority"]
            now = int(time.time())
            claims = {
                **OFFLINE_USER,
                **({"cognito:groups": [REVIEWERS_GROUP]} if server.reviewer else {}),
                "iss": issuer,
                "aud": OFFLINE_CLIENT_ID,
                "token_use": "id",
                "iat": now,
                "exp": now + 3600,
            }
            token = jwt.encode(claims, OFFLINE_SIGNING_KEY, algorithm="HS256")
            self._json(
                200,
                {
                    "id_token": token,
                    "access_token": token,
                    "refresh_token": "offline-refresh",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                },
            )

        # --- offline API -----------------------------------------------------

        def _api(self, method: str, path: str, body: dict[str, Any] | None) -> None:
            server.requests.append((method, path, body))
            if not self.headers.get("Authorization"):
                self._json(
                    401,
                    {"error": {"code": "unauthenticated", "message": "sign in", "field": None}},
                )
            elif method == "POST" and path == "/v1/uploads" and isinstance(body, dict):
                key = f"{user_prefix(OFFLINE_USER['sub'])}{uuid.uuid4()}.jpg"
                self._json(
                    200,
                    {
                        "url": f"{self._origin()}/_offline/uploads/{key}",
                        "method": "PUT",
                        "s3_key": key,
                        "headers": {
                            "Content-Type": body.get("content_type"),
                            "Content-Length": str(body.get("content_length")),
                        },
                        "expires_in": 300,
                    },
                )
            elif method == "POST" and path in RECORDED_ROUTES:
                self._send(200, (RECORDED / RECORDED_ROUTES[path]).read_bytes())
            elif method == "GET" and path == "/v1/models":
                self._json(
                    200,
                    {
                        "active_model_version": "v1",
                        "labels": recorded_labels(),
                        "versions": [
                            {
                                "model_version": "v1",
                                "status": "RUNNING",
                                "created_at": "2026-11-01T00:00:00+00:00",
                                "active": True,
                            }
                        ],
                        # Offline: figures of the shape GET /v1/models gives, not a bill.
                        "usage": {
                            "today_unit_hours": 1.5,
                            "month_unit_hours": 12.25,
                            "usd_per_unit_hour": 4.0,
                            "today_usd": 6.0,
                            "month_usd": 49.0,
                        },
                    },
                )
            elif method == "POST" and path == "/v1/feedback" and isinstance(body, dict):
                self._feedback(body)
            elif path == "/v1/review" and not server.reviewer:
                self._error(403, "not_reviewer", "only reviewers may review feedback")
            elif method == "GET" and path == "/v1/review":
                pending = [i for i in server.feedback.values() if i["status"] == "pending"]
                self._json(
                    200,
                    {
                        "known_labels": recorded_labels(),
                        "items": [
                            {k: v for k, v in item.items() if k != "status"} for item in pending
                        ],
                    },
                )
            elif method == "POST" and path == "/v1/review" and isinstance(body, dict):
                self._review(body)
            else:
                self._json(
                    404,
                    {"error": {"code": "not_found", "message": f"no route {path}", "field": None}},
                )

        def _error(self, status: int, code: str, message: str, field: str | None = None) -> None:
            self._json(status, {"error": {"code": code, "message": message, "field": field}})

        def _feedback(self, body: dict[str, Any]) -> None:
            """The handler's rules in short: own upload, a label that is known or said new."""
            key, label = str(body.get("s3_key", "")), str(body.get("label", "")).strip()
            if not key.startswith(user_prefix(OFFLINE_USER["sub"])):
                self._error(403, "forbidden_key", "s3_key is not one of your uploads", "s3_key")
            elif key not in server.uploads:
                self._error(404, "upload_not_found", "no upload with that key", "s3_key")
            elif label not in recorded_labels() and body.get("new_label") is not True:
                self._error(400, "unknown_label", f"{label!r} is not a label", "label")
            else:
                answered = body.get("answered") or [{}]
                best = max(answered, key=lambda a: a.get("confidence", 0))
                feedback_id = uuid.uuid5(uuid.NAMESPACE_URL, key).hex
                server.feedback[feedback_id] = {
                    "feedback_id": feedback_id,
                    "status": "pending",
                    "label": label,
                    "answered_label": best.get("name"),
                    "answered_confidence": best.get("confidence"),
                    "model_version": body.get("model_version"),
                    "origin": "person",
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                    "image_url": f"{self._origin()}/_offline/uploads/{key}",
                    "boxes": body.get("boxes"),
                }
                self._json(
                    200,
                    {
                        "feedback_id": feedback_id,
                        "status": "pending",
                        "label": label,
                        "agreed": label == best.get("name"),
                    },
                )

        def _review(self, body: dict[str, Any]) -> None:
            item = server.feedback.get(str(body.get("feedback_id")))
            action = body.get("action")
            if item is None:
                self._error(404, "feedback_not_found", "no feedback with that id", "feedback_id")
            elif item["status"] != "pending":
                self._error(409, "already_reviewed", "already reviewed", "feedback_id")
            elif action not in {"confirm", "correct", "discard"}:
                self._error(400, "invalid_request", "action: confirm, correct or discard", "action")
            else:
                if action == "correct":
                    item["label"] = str(body.get("label", "")).strip()
                if action != "discard" and body.get("boxes") is not None:
                    item["boxes"] = body["boxes"]
                item["status"] = "discarded" if action == "discard" else "confirmed"
                self._json(
                    200,
                    {
                        "feedback_id": item["feedback_id"],
                        "status": item["status"],
                        "label": item["label"],
                    },
                )

    return Handler


def recorded_labels() -> list[str]:
    """The labels of the recorded labels answer: the offline model's labels."""
    answer = json.loads((RECORDED / RECORDED_ROUTES["/v1/labels"]).read_text())
    return sorted(label["name"] for label in answer["labels"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.web_preview", description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stage", help="a deployed stage (reads its stack outputs)")
    where.add_argument("--offline", action="store_true", help="recorded responses, no AWS")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        config: dict[str, Any] | None = None
        connect_sources: list[str] = []
        if args.stage:
            import boto3

            config, connect_sources = stage_config(args.stage, boto3.client("cloudformation"))
        with PreviewServer(
            config=config, port=args.port, connect_sources=connect_sources, verbose=args.verbose
        ) as server:
            mode = "OFFLINE (recorded responses)" if server.offline else f"stage {args.stage}"
            print(f"Quick-test page, {mode}: http://localhost:{server.port}/  (Ctrl-C stops)")
            if not server.offline:
                print("Its origin must be in the stage's allowed_web_origins (cdk.json).")
            threading.Event().wait()
    except PreviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
