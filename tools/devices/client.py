"""``python -m tools.devices.client``: a device (phone, board) in the field, over MQTT with TLS.

Uses the AWS IoT Device SDK v2 (``awsiotsdk``, MQTT 3.1.1 over mutual TLS with
the thing's certificate from ``python -m tools.devices register``). Every
message is first written to an on-disk queue and removed only once the
broker acknowledged it (QoS 1), so a message survives a broker that is down,
no network, or a crash; the next command (or ``flush``) sends what waits.

Payloads (JSON; the topic rule adds ``device_id``, ``timestamp``, ``kind``)::

    devices/<thing>/events     {"type": "log", "level": "info", "message": "..."}
                               {"type": "inference", "model": "<model version>",
                                "labels": [{"name": "with_qr", "confidence": 97.1}]}
                               {"type": "codes", "codes": [{"format": "ean_13",
                                "text": "9784101010137", "source": "barcode",
                                "isbn13": "9784101010137", "isbn10": "4101010137"}]}
                               {"type": "faces", "faces": [{"person": "花子",
                                "similarity": 97.4, "status": "matched", "box_left": 0.4,
                                "box_top": 0.18, "box_width": 0.22, "box_height": 0.33}, ...]}
    devices/<thing>/telemetry  {"metrics": {"temperature_c": 21.5, "battery_pct": 80}}

Commands::

    python -m tools.devices.client --device-dir ~/.imgrec/devices/phone-1 event --message "booted"
    python -m tools.devices.client --device-dir ... telemetry temperature_c=21.5 battery_pct=80
    python -m tools.devices.client --device-dir ... photo shelf.jpg --api URL --token ID_TOKEN
    python -m tools.devices.client --device-dir ... photo book.jpg --codes --api URL --token ID
    python -m tools.devices.client --device-dir ... photo group.jpg --faces --api URL --token ID
    python -m tools.devices.client --device-dir ... flush
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUE_ROOT = Path.home() / ".imgrec" / "queue"


@dataclass(frozen=True)
class DeviceConfig:
    """Where and as whom a device connects (from ``device.json`` of its registration)."""

    thing_name: str
    endpoint: str
    port: int
    certificate: Path
    private_key: Path
    ca: Path | None = None

    @classmethod
    def from_dir(cls, directory: Path, ca: Path | None = None) -> DeviceConfig:
        try:
            raw = json.loads((directory / "device.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{directory}/device.json cannot be read: {exc}") from None
        return cls(
            thing_name=raw["thing_name"],
            endpoint=raw["endpoint"],
            port=int(raw.get("port", 8883)),
            certificate=directory / raw.get("certificate", "certificate.pem.crt"),
            private_key=directory / raw.get("private_key", "private.pem.key"),
            ca=ca,
        )

    def topic(self, kind: str) -> str:
        return f"devices/{self.thing_name}/{kind}"


class DiskQueue:
    """One JSON file per message, named so that sorting gives sending order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(self, topic: str, payload: dict[str, Any]) -> Path:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
        temporary = self.directory / f".{name}.tmp"
        temporary.write_text(json.dumps({"topic": topic, "payload": payload}))
        path = self.directory / name
        os.replace(temporary, path)  # atomic: a reader never sees half a message
        return path

    def items(self) -> list[Path]:
        return sorted(self.directory.glob("*.json"))

    @staticmethod
    def read(path: Path) -> tuple[str, dict[str, Any]]:
        item = json.loads(path.read_text())
        return item["topic"], item["payload"]


class DeviceClient:
    """Queue-first publisher: :meth:`send` never loses a message."""

    def __init__(self, config: DeviceConfig, queue: DiskQueue, timeout_seconds: float = 5) -> None:
        self.config = config
        self.queue = queue
        self.timeout = timeout_seconds
        self.last_error: str | None = None

    def send(self, kind: str, payload: dict[str, Any]) -> bool:
        """Queue the message, then try to deliver the queue. :returns: True if nothing waits."""
        self.queue.put(self.config.topic(kind), payload)
        return self.flush() == 0

    def _connect(self) -> Any:
        from awscrt import mqtt
        from awsiot import mqtt_connection_builder

        connection = mqtt_connection_builder.mtls_from_path(
            endpoint=self.config.endpoint,
            port=self.config.port,
            cert_filepath=str(self.config.certificate),
            pri_key_filepath=str(self.config.private_key),
            ca_filepath=str(self.config.ca) if self.config.ca else None,
            client_id=self.config.thing_name,
            clean_session=True,
            keep_alive_secs=30,
        )
        connection.connect().result(self.timeout)
        return connection, mqtt.QoS.AT_LEAST_ONCE

    def flush(self) -> int:
        """Send queued messages in order, stopping at the first failure.

        :returns: how many messages still wait in the queue.
        """
        pending = self.queue.items()
        if not pending:
            return 0
        try:
            connection, qos = self._connect()
        except Exception as exc:  # any connect failure: keep the queue for later
            self.last_error = f"cannot connect to {self.config.endpoint}: {exc!r}"
            return len(pending)
        try:
            for path in pending:
                topic, payload = self.queue.read(path)
                future, _ = connection.publish(topic=topic, payload=json.dumps(payload), qos=qos)
                future.result(self.timeout)  # PUBACK: only now is it safe to forget
                path.unlink()
        except Exception as exc:  # stop at the first failure; the rest stays queued
            self.last_error = f"publish failed: {exc!r}"
        finally:
            with contextlib.suppress(Exception):  # the connection may already be gone
                connection.disconnect().result(self.timeout)
        return len(self.queue.items())


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, **{k: v for k, v in fields.items() if v is not None}}


def telemetry(readings: Sequence[str]) -> dict[str, Any]:
    """``["temperature_c=21.5", ...]`` -> ``{"metrics": {"temperature_c": 21.5}}``.

    :raises ValueError: naming a reading that is not ``name=number``.
    """
    metrics: dict[str, float] = {}
    for reading in readings:
        name, _, value = reading.partition("=")
        try:
            metrics[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"reading {reading!r} is not name=number") from None
        if not name.strip():
            raise ValueError(f"reading {reading!r} has no name")
    return {"metrics": metrics}


def _post(api: str, route: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to the API's ``route``; the answer, or RuntimeError naming the error."""
    request = urllib.request.Request(  # noqa: S310  (the API URL the user gives)
        api.rstrip("/") + route,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": token},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        retry = exc.headers.get("Retry-After")
        hint = f" (retry after {retry} s)" if retry else ""
        raise RuntimeError(
            f"API answered {exc.code} {error.get('code')}: {error.get('message')}{hint}"
        ) from None
    return answer


def _image(photo: Path) -> dict[str, str]:
    return {"bytes": base64.b64encode(photo.read_bytes()).decode()}


def recognise(photo: Path, api: str, token: str, min_confidence: float | None) -> dict[str, Any]:
    """POST the photo to the inference API's ``/v1/labels``; return the inference event."""
    body: dict[str, Any] = {"image": _image(photo)}
    if min_confidence is not None:
        body["min_confidence"] = min_confidence
    answer = _post(api, "/labels", token, body)
    return event(
        "inference",
        model=answer.get("model_version"),
        labels=[
            {"name": x["name"], "confidence": x["confidence"]} for x in answer.get("labels", [])
        ],
        photo=photo.name,
    )


def read_codes(photo: Path, api: str, token: str) -> dict[str, Any]:
    """POST the photo to ``/v1/codes``; return the codes event (one row per code, the ISBN
    flattened so Athena reads ``code.isbn13``)."""
    answer = _post(api, "/codes", token, {"image": _image(photo)})
    return event(
        "codes",
        codes=[
            {
                "format": code["format"],
                "text": code["text"],
                "source": code["source"],
                "isbn13": (code.get("isbn") or {}).get("isbn13"),
                "isbn10": (code.get("isbn") or {}).get("isbn10"),
            }
            for code in answer.get("codes", [])
        ],
        photo=photo.name,
    )


def search_faces(photo: Path, api: str, token: str) -> dict[str, Any]:
    """POST the photo to ``/v1/faces/search``; return the faces event: every face found,
    the person (None when unknown or not searched) and its box flattened for Athena."""
    answer = _post(api, "/faces/search", token, {"image": _image(photo)})
    faces = []
    for face in answer.get("faces", []):
        box = face.get("bounding_box") or {}
        person = face.get("person") or {}
        faces.append(
            {
                "person": person.get("name"),
                "similarity": person.get("similarity"),
                "status": face["status"],
                "box_left": box.get("left"),
                "box_top": box.get("top"),
                "box_width": box.get("width"),
                "box_height": box.get("height"),
            }
        )
    return event("faces", faces=faces, photo=photo.name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.devices.client", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--device-dir", type=Path, required=True, help="folder made by tools.devices register"
    )
    parser.add_argument("--ca", type=Path, help="CA bundle of the broker (default: the system's)")
    parser.add_argument(
        "--queue-dir", type=Path, help=f"on-disk queue (default {QUEUE_ROOT}/<thing>)"
    )
    parser.add_argument("--timeout", type=float, default=5, help="seconds to wait for the broker")
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("event", help="publish a log event")
    ev.add_argument("--message", required=True)
    ev.add_argument("--level", default="info", choices=["debug", "info", "warning", "error"])
    tm = commands.add_parser("telemetry", help="publish sensor readings NAME=NUMBER ...")
    tm.add_argument("readings", nargs="+")
    ph = commands.add_parser(
        "photo", help="recognise a photo through the API and publish the result"
    )
    ph.add_argument("photo", type=Path)
    ph.add_argument("--api", required=True, help="the stage's ApiUrl (ends with /v1)")
    ph.add_argument("--token", required=True, help="Cognito ID token")
    ph.add_argument("--min-confidence", type=float)
    ph.add_argument(
        "--codes",
        action="store_true",
        help="read QR codes, barcodes and ISBNs (/v1/codes) instead of the model's labels",
    )
    ph.add_argument(
        "--faces",
        action="store_true",
        help="name everyone in the photo (/v1/faces/search) instead of the model's labels",
    )
    commands.add_parser("flush", help="send what the queue holds")
    args = parser.parse_args(argv)
    try:
        config = DeviceConfig.from_dir(args.device_dir, args.ca)
        client = DeviceClient(
            config, DiskQueue(args.queue_dir or QUEUE_ROOT / config.thing_name), args.timeout
        )
        if args.command == "flush":
            waiting = client.flush()
        elif args.command == "event":
            client.send("events", event("log", level=args.level, message=args.message))
            waiting = len(client.queue.items())
        elif args.command == "telemetry":
            client.send("telemetry", telemetry(args.readings))
            waiting = len(client.queue.items())
        elif args.codes:
            client.send("events", read_codes(args.photo, args.api, args.token))
            waiting = len(client.queue.items())
        elif args.faces:
            client.send("events", search_faces(args.photo, args.api, args.token))
            waiting = len(client.queue.items())
        else:
            client.send("events", recognise(args.photo, args.api, args.token, args.min_confidence))
            waiting = len(client.queue.items())
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if waiting:
        reason = f" ({client.last_error})" if client.last_error else ""
        print(f"{waiting} message(s) queued{reason}; the next command or 'flush' sends them")
        return 3
    print("sent")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
