"""The device client against a real MQTT broker (mosquitto, mutual TLS, started by the test)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from awscrt import mqtt
from awsiot import mqtt_connection_builder

from tests.support.api_events import image_bytes
from tests.support.mqtt_broker import Broker, BrokerPki, free_port
from tools.devices import client as device
from tools.devices.client import DeviceClient, DeviceConfig, DiskQueue

THING = "phone-1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> BrokerPki:
    return BrokerPki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def broker(pki: BrokerPki) -> Iterator[Broker]:
    server = Broker(pki, free_port())
    server.start()
    yield server
    server.stop()


def device_dir(pki: BrokerPki, tmp_path: Path, port: int) -> Path:
    cert, key = pki.issue(THING)
    directory = tmp_path / THING
    directory.mkdir()
    (directory / "device.json").write_text(
        json.dumps(
            {
                "thing_name": THING,
                "endpoint": "localhost",
                "port": port,
                "certificate": str(cert),
                "private_key": str(key),
            }
        )
    )
    return directory


class Observer:
    """A second MQTT client subscribed to devices/# on the broker."""

    def __init__(self, pki: BrokerPki, port: int) -> None:
        cert, key = pki.issue("observer")
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.arrived = threading.Event()
        self.connection = mqtt_connection_builder.mtls_from_path(
            endpoint="localhost",
            port=port,
            cert_filepath=str(cert),
            pri_key_filepath=str(key),
            ca_filepath=str(pki.ca),
            client_id="observer",
            clean_session=True,
        )
        self.connection.connect().result(10)
        subscribed, _ = self.connection.subscribe(
            "devices/#", mqtt.QoS.AT_LEAST_ONCE, self._on_message
        )
        subscribed.result(10)

    def _on_message(self, topic: str, payload: bytes, **_: Any) -> None:
        self.messages.append((topic, json.loads(payload)))
        self.arrived.set()

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[str, dict[str, Any]]]:
        deadline = threading.Event()
        for _ in range(int(timeout * 20)):
            if len(self.messages) >= count:
                break
            deadline.wait(0.05)
        return self.messages

    def close(self) -> None:
        self.connection.disconnect().result(10)


def client_for(pki: BrokerPki, tmp_path: Path, port: int) -> DeviceClient:
    config = DeviceConfig.from_dir(device_dir(pki, tmp_path, port), ca=pki.ca)
    return DeviceClient(config, DiskQueue(tmp_path / "queue"), timeout_seconds=3)


def test_event_and_telemetry_arrive_on_the_documented_topics(
    pki: BrokerPki, broker: Broker, tmp_path: Path
) -> None:
    observer = Observer(pki, broker.port)
    client = client_for(pki, tmp_path, broker.port)

    assert client.send("events", device.event("log", level="info", message="booted"))
    assert client.send("telemetry", device.telemetry(["temperature_c=21.5", "battery_pct=80"]))

    messages = observer.wait_for(2)
    observer.close()
    assert messages == [
        ("devices/phone-1/events", {"type": "log", "level": "info", "message": "booted"}),
        ("devices/phone-1/telemetry", {"metrics": {"temperature_c": 21.5, "battery_pct": 80.0}}),
    ]
    assert client.queue.items() == []


def test_queue_survives_a_broker_that_is_down_and_drains_when_it_returns(
    pki: BrokerPki, tmp_path: Path
) -> None:
    port = free_port()
    client = client_for(pki, tmp_path, port)

    delivered = [
        client.send("events", device.event("log", message=f"offline {i}")) for i in range(3)
    ]

    assert delivered == [False, False, False]
    assert len(client.queue.items()) == 3
    assert client.last_error is not None
    assert "cannot connect" in client.last_error
    # A new process (new client object) finds the same queue on disk.
    client = DeviceClient(client.config, DiskQueue(tmp_path / "queue"), timeout_seconds=3)
    server = Broker(pki, port)
    server.start()
    try:
        observer = Observer(pki, port)
        assert client.flush() == 0
        messages = observer.wait_for(3)
        observer.close()
    finally:
        server.stop()
    assert [payload["message"] for _, payload in messages] == [
        "offline 0",
        "offline 1",
        "offline 2",
    ]
    assert client.queue.items() == []


RECORDED = Path(__file__).resolve().parents[2] / "assets" / "web" / "recorded"


class FakeApi(BaseHTTPRequestHandler):
    """A local stand-in for the inference API's /v1/labels (real HTTP on loopback)."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeApi.requests.append(
            {"path": self.path, "auth": self.headers["Authorization"], "body": body}
        )
        payload: dict[str, Any]
        if self.path.endswith("/codes"):
            self.send_response(200)
            payload = {
                "codes": [
                    {
                        "format": "ean_13",
                        "text": "9784101010137",
                        "source": "barcode",
                        "bounding_box": {"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.1},
                        "polygon": [],
                        "isbn": {"isbn13": "9784101010137", "isbn10": "4101010137"},
                    },
                    {
                        "format": "qr_code",
                        "text": "https://example.com",
                        "source": "barcode",
                        "bounding_box": {"left": 0.6, "top": 0.2, "width": 0.2, "height": 0.2},
                        "polygon": [],
                        "isbn": None,
                    },
                ],
                "text_search": "off",
            }
        elif self.path.endswith("/faces/search"):
            self.send_response(200)
            # The handler's own answer for the recorded group photo (checked against it).
            payload = json.loads((RECORDED / "faces-search.json").read_text())
        elif body.get("min_confidence") == 99:
            self.send_response(503)
            self.send_header("Retry-After", "120")
            payload = {"error": {"code": "model_starting", "message": "starting", "field": None}}
        else:
            self.send_response(200)
            payload = {
                "model_version": "qr-v1",
                "labels": [{"name": "with_qr", "confidence": 97.0, "bounding_box": None}],
            }
        data = json.dumps(payload).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/dev/v1"
    server.shutdown()


def send_photo(
    pki: BrokerPki, directory: Path, tmp_path: Path, photo: Path, api: str, *flags: str
) -> int:
    """``tools.devices.client photo`` against the loopback broker and API, signed in as
    ``id-token``."""
    return device.main(
        [
            "--device-dir",
            str(directory),
            "--ca",
            str(pki.ca),
            "--queue-dir",
            str(tmp_path / "q"),
            "photo",
            str(photo),
            *flags,
            "--api",
            api,
            "--token",
            "id-token",
        ]
    )


def test_photo_is_recognised_through_the_api_and_published(
    pki: BrokerPki, broker: Broker, api: str, tmp_path: Path
) -> None:
    photo = tmp_path / "shelf.jpg"
    photo.write_bytes(image_bytes(200, 200))
    directory = device_dir(pki, tmp_path, broker.port)
    observer = Observer(pki, broker.port)

    code = send_photo(pki, directory, tmp_path, photo, api)

    messages = observer.wait_for(1)
    observer.close()
    assert code == 0
    assert FakeApi.requests[-1]["path"] == "/dev/v1/labels"
    assert FakeApi.requests[-1]["auth"] == "id-token"
    assert messages == [
        (
            "devices/phone-1/events",
            {
                "type": "inference",
                "model": "qr-v1",
                "labels": [{"name": "with_qr", "confidence": 97.0}],
                "photo": "shelf.jpg",
            },
        )
    ]


def test_a_books_codes_are_read_through_the_api_and_published(
    pki: BrokerPki, broker: Broker, api: str, tmp_path: Path
) -> None:
    photo = tmp_path / "book.jpg"
    photo.write_bytes(image_bytes(200, 200))
    directory = device_dir(pki, tmp_path, broker.port)
    observer = Observer(pki, broker.port)

    code = send_photo(pki, directory, tmp_path, photo, api, "--codes")

    messages = observer.wait_for(1)
    observer.close()
    assert code == 0
    assert FakeApi.requests[-1]["path"] == "/dev/v1/codes"
    assert set(FakeApi.requests[-1]["body"]) == {"image"}
    assert messages == [
        (
            "devices/phone-1/events",
            {
                "type": "codes",
                "codes": [
                    {
                        "format": "ean_13",
                        "text": "9784101010137",
                        "source": "barcode",
                        "isbn13": "9784101010137",
                        "isbn10": "4101010137",
                    },
                    {
                        "format": "qr_code",
                        "text": "https://example.com",
                        "source": "barcode",
                        "isbn13": None,
                        "isbn10": None,
                    },
                ],
                "photo": "book.jpg",
            },
        )
    ]


def test_everyone_in_a_group_photo_is_published(
    pki: BrokerPki, broker: Broker, api: str, tmp_path: Path
) -> None:
    photo = tmp_path / "group.jpg"
    photo.write_bytes(image_bytes(200, 200))
    directory = device_dir(pki, tmp_path, broker.port)
    observer = Observer(pki, broker.port)

    code = send_photo(pki, directory, tmp_path, photo, api, "--faces")

    [(topic, message)] = observer.wait_for(1)
    observer.close()
    assert code == 0
    assert FakeApi.requests[-1]["path"] == "/dev/v1/faces/search"
    assert (topic, message["type"], message["photo"]) == (
        "devices/phone-1/events",
        "faces",
        "group.jpg",
    )
    assert [(f["person"], f["status"]) for f in message["faces"]] == [
        ("花子", "matched"),
        ("taro", "matched"),
        (None, "unknown"),
    ]
    assert message["faces"][0] == {
        "person": "花子",
        "similarity": 97.4,
        "status": "matched",
        "box_left": 0.4,
        "box_top": 0.18,
        "box_width": 0.22,
        "box_height": 0.33,
    }


def test_api_errors_are_reported_with_retry_after(
    pki: BrokerPki, api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "shelf.jpg"
    photo.write_bytes(image_bytes(200, 200))
    directory = device_dir(pki, tmp_path, free_port())

    code = device.main(
        [
            "--device-dir",
            str(directory),
            "--queue-dir",
            str(tmp_path / "q"),
            "photo",
            str(photo),
            "--api",
            api,
            "--token",
            "t",
            "--min-confidence",
            "99",
        ]
    )

    assert code == 1
    assert (
        "API answered 503 model_starting: starting (retry after 120 s)" in capsys.readouterr().err
    )


@pytest.mark.parametrize("reading", ["temperature", "=5", "temperature=warm"])
def test_bad_telemetry_readings_are_named(reading: str) -> None:
    with pytest.raises(ValueError, match=reading.split("=")[0] or "="):
        device.telemetry([reading])
