"""The quick-test page in real headless Chromium (Debian's), against recorded answers.

The page is the Vite build in ``assets/web/dist`` (``make test`` builds it),
served by ``tools.web_preview`` in offline mode: it plays Cognito and the API
with the real handler's recorded answers and keeps every presigned upload, so
the tests can check the bytes and pixels the page sent. Error states replace
single API answers with ``page.route``. One test routes Cognito's real URLs
(discovery document, managed login, token endpoint) instead.

Screenshots of each mode go to ``$SCREENSHOT_DIR`` (default ``build/screenshots``;
``make screenshots`` writes the README's, in ``docs/screenshots``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from PIL import Image
from playwright.sync_api import (
    Browser,
    FilePayload,
    Page,
    Playwright,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

from tools.bench import code_images
from tools.bench.events import group_photo
from tools.web_preview import DIST, RECORDED, PreviewServer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "build" / "screenshots"))
PHONE: ViewportSize = {"width": 390, "height": 844}
MB = 1024 * 1024


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            "Debian's chromium is needed for the browser tests: apt-get install chromium "
            "(.ci/run installs it)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not (DIST / "index.html").is_file():
        pytest.fail(
            "the page is not built: run 'npm run build:web' (make test does)", pytrace=False
        )
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=_chromium(),
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
    yield browser
    browser.close()


@pytest.fixture
def server() -> Iterator[PreviewServer]:
    with PreviewServer() as preview:
        yield preview


def _new_page(browser: Browser, locale: str = "en-US") -> Page:
    context = browser.new_context(viewport=PHONE, locale=locale, device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.csp_violations = violations  # type: ignore[attr-defined]
    return page


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = _new_page(browser)
    yield page
    violations = page.csp_violations  # type: ignore[attr-defined]
    page.context.close()
    assert violations == [], "the page broke its Content-Security-Policy"


# --- helpers -------------------------------------------------------------------


def jpeg(
    width: int, height: int, *, noise: bool = False, exif_orientation: int | None = None
) -> bytes:
    if noise:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (240, 240, 240))
        image.paste((220, 30, 30), (0, 0, width // 2, height))
        image.paste((30, 30, 220), (width // 2, 0, width, height))
    buffer = io.BytesIO()
    kwargs: dict[str, Any] = {"quality": 95}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def sign_in(page: Page, server: PreviewServer) -> None:
    page.goto(server.origin + "/")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#user-name")).to_have_text("preview@example.com")


def choose(page: Page, data: bytes, name: str = "photo.jpg", mime: str = "image/jpeg") -> None:
    payload: FilePayload = {"name": name, "mimeType": mime, "buffer": data}
    page.set_input_files("#file", files=[payload])


def pick_mode(page: Page, label: str) -> None:
    page.get_by_label(label).check()


def results(page: Page) -> list[str]:
    expect(page.locator("#results")).to_be_visible()
    return [" ".join(text.split()) for text in page.locator("#result-list > li").all_inner_texts()]


def uploaded_image(server: PreviewServer) -> Image.Image:
    assert len(server.uploads) == 1, server.uploads.keys()
    [data] = server.uploads.values()
    return Image.open(io.BytesIO(data))


def api_calls(server: PreviewServer, path: str) -> list[dict[str, Any] | None]:
    return [body for method, called, body in server.requests if called == path]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


def answer(
    route: Route, status: int, error: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    route.fulfill(
        status=status,
        content_type="application/json",
        headers=headers or {},
        body=json.dumps({"error": {"field": None, **error}}),
    )


def fail_first_labels_call(
    page: Page, status: int, error: dict[str, Any], headers: dict[str, str]
) -> list[int]:
    """Answer the first POST /v1/labels with an error, later ones as recorded.

    :returns: the ``attempt`` each labels call sent, as they happen.
    """
    calls: list[int] = []

    def labels(route: Route) -> None:
        calls.append(int((route.request.post_data_json or {}).get("attempt", 0)))
        if len(calls) == 1:
            answer(route, status, error, headers)
        else:
            route.fallback()

    page.route("**/v1/labels", labels)
    return calls


# --- sign-in -------------------------------------------------------------------


def test_sign_in_shows_who_and_sign_out_ends_the_session(page: Page, server: PreviewServer) -> None:
    page.goto(server.origin + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#offline-banner")).to_contain_text("recorded response")

    sign_in(page, server)
    assert "code=" not in page.url, "the authorization code must not stay in the address bar"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_sign_in_uses_cognito_code_flow_with_pkce(browser: Browser) -> None:
    """The page against Cognito's real URL layout (routed to recorded answers)."""
    discovery = json.loads((RECORDED / "cognito-openid-configuration.json").read_text())
    authority = discovery["issuer"]
    config = {
        "stage": "dev",
        "region": "ap-northeast-1",
        "apiBase": "https://abc123.execute-api.ap-northeast-1.amazonaws.com/dev/v1",
        "authority": authority,
        "clientId": "webclient123",
        "logoutEndpoint": discovery["authorization_endpoint"].replace(
            "/oauth2/authorize", "/logout"
        ),
    }
    login = "https://" + urlsplit(discovery["token_endpoint"]).netloc
    seen: dict[str, dict[str, str]] = {}
    cors = {"Access-Control-Allow-Origin": "*"}

    def authorize(route: Route) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(route.request.url).query).items()}
        seen["authorize"] = query
        target = f"{query['redirect_uri']}?code=c0de&state={query['state']}"
        route.fulfill(status=302, headers={"Location": target})

    def token(route: Route) -> None:
        seen["token"] = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
        claims = {
            "sub": "u-1",
            "email": "hanako@example.com",
            "iss": authority,
            "aud": "webclient123",
            "exp": 4_102_444_800,
            "iat": 1_700_000_000,
            "token_use": "id",
        }
        id_token = jwt.encode(claims, "test-key-for-routing-only-not-a-secret", algorithm="HS256")
        body = {
            "id_token": id_token,
            "access_token": id_token,
            "refresh_token": "r",
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        route.fulfill(
            status=200, content_type="application/json", headers=cors, body=json.dumps(body)
        )

    def logout(route: Route) -> None:
        seen["logout"] = {k: v[0] for k, v in parse_qs(urlsplit(route.request.url).query).items()}
        route.fulfill(status=302, headers={"Location": seen["logout"]["logout_uri"]})

    with PreviewServer(config=config) as server:
        page = _new_page(browser)
        page.route(
            f"{authority}/.well-known/openid-configuration",
            lambda r: r.fulfill(
                status=200,
                content_type="application/json",
                headers=cors,
                body=json.dumps(discovery),
            ),
        )
        page.route(f"{login}/oauth2/authorize?*", authorize)
        page.route(f"{login}/oauth2/token", token)
        page.route(f"{login}/logout?*", logout)

        page.goto(server.origin + "/")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#user-name")).to_have_text("hanako@example.com")
        expect(page.locator("#stage")).to_have_text("dev")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        violations = page.csp_violations  # type: ignore[attr-defined]
        page.context.close()

    home = server.origin + "/"
    assert seen["authorize"]["response_type"] == "code"
    assert seen["authorize"]["client_id"] == "webclient123"
    assert seen["authorize"]["redirect_uri"] == home
    assert seen["authorize"]["code_challenge_method"] == "S256"
    assert set(seen["authorize"]["scope"].split()) == {"openid", "email"}
    assert seen["token"]["grant_type"] == "authorization_code"
    assert seen["token"]["code"] == "c0de"
    verifier = seen["token"]["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert seen["logout"] == {"client_id": "webclient123", "logout_uri": home}
    assert violations == []


def test_missing_config_says_so(page: Page, server: PreviewServer) -> None:
    page.route("**/config.json", lambda route: route.fulfill(status=404, body="not found"))
    page.goto(server.origin + "/")
    expect(page.get_by_role("alert")).to_contain_text(
        "This page has no configuration (config.json): HTTP 404"
    )


def test_a_refused_sign_in_is_explained(page: Page, server: PreviewServer) -> None:
    page.goto(server.origin + "/?error=access_denied&error_description=User+is+disabled.")
    expect(page.get_by_text("Sign-in did not complete: User is disabled.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert "error=" not in page.url


# --- the three modes end to end ------------------------------------------------------


def test_labels_mode_ranks_labels_draws_boxes_and_follows_the_threshold(
    page: Page, server: PreviewServer
) -> None:
    sign_in(page, server)
    photo = jpeg(1600, 1200)
    choose(page, photo)

    assert results(page) == ["qr_code 96.4%"]
    expect(page.locator("#hidden-count")).to_have_text("2 more below the threshold.")
    expect(page.locator("#boxes .box")).to_have_count(1)
    expect(page.get_by_role("img", name="qr_code, 96.4%")).to_be_visible()

    [ticket] = api_calls(server, "/v1/uploads")
    [data] = server.uploads.values()
    assert ticket == {"content_type": "image/jpeg", "content_length": len(data)}
    [labels] = api_calls(server, "/v1/labels")
    assert labels == {
        "image": {"s3_key": next(iter(server.uploads))},
        "min_confidence": 0,
        "max_results": 50,
        "attempt": 1,
    }
    assert uploaded_image(server).size == (1600, 1200)
    screenshot(page, "labels")

    page.get_by_label("Confidence threshold").fill("40")
    assert results(page) == ["qr_code 96.4%", "isbn_barcode 41.2%"]
    expect(page.locator("#boxes .box")).to_have_count(2)
    page.get_by_label("Confidence threshold").fill("0")
    assert len(results(page)) == 3
    assert len(api_calls(server, "/v1/labels")) == 1, "the slider filters; it does not call again"


def test_a_group_photo_gets_a_box_and_a_name_on_every_face(
    page: Page, server: PreviewServer
) -> None:
    sign_in(page, server)
    pick_mode(page, "Who is this? (face search)")
    expect(page.get_by_label("Confidence threshold")).to_be_hidden()
    choose(page, group_photo())

    assert results(page) == [
        "Face 1: 花子 (97.4% similar)",
        "Face 2: taro (99.1% similar)",
        "Face 3: Unknown",
    ]
    expect(page.locator("#results-note")).to_have_text(
        "3 face(s) found, 3 searched among the registered people."
    )
    boxes = page.locator("#boxes .box")
    expect(boxes).to_have_count(3)
    expect(page.get_by_role("img", name="花子 (97.4% similar)")).to_be_visible()
    expect(page.locator("#boxes .box.unknown")).to_have_count(1)
    expect(page.get_by_role("img", name="Unknown")).to_be_visible()
    screenshot(page, "face-search")


def test_a_group_photo_in_japanese(browser: Browser, server: PreviewServer) -> None:
    page = _new_page(browser, locale="ja-JP")
    try:
        page.goto(server.origin + "/")
        page.get_by_role("button", name="サインイン").click()
        expect(page.locator("#user-name")).to_have_text("preview@example.com")
        page.get_by_label("この人は誰？（顔検索）").check()
        choose(page, group_photo())

        assert results(page) == [
            "顔 1: 花子（類似度 97.4%）",
            "顔 2: taro（類似度 99.1%）",
            "顔 3: 不明",
        ]
        expect(page.locator("#results-note")).to_have_text(
            "顔を 3 件見つけ、3 件を登録済みの人物から検索しました。"
        )
        screenshot(page, "face-search-ja")
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("faces", "expected"),
    [
        ([], ["No face was found in the photo."]),
        (
            [{"status": "not_searched", "reason": "too_small"}],
            ["Face 1: Not searched (the face is too small)"],
        ),
        (
            [{"status": "not_searched", "reason": "over_limit"}],
            ["Face 1: Not searched (more faces than the search limit)"],
        ),
    ],
    ids=["no-face", "too-small", "over-limit"],
)
def test_face_search_says_when_there_is_no_one_to_name(
    page: Page, server: PreviewServer, faces: list[dict[str, Any]], expected: list[str]
) -> None:
    found = [{"bounding_box": None, "confidence": 99.0, "person": None, **face} for face in faces]
    body = {"faces": found, "faces_found": len(found), "faces_searched": 0}
    from inference_api.schema import FaceSearchResponse

    FaceSearchResponse.model_validate(body)
    page.route(
        "**/v1/faces/search",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        ),
    )
    sign_in(page, server)
    pick_mode(page, "Who is this? (face search)")
    choose(page, jpeg(800, 600))
    assert results(page) == expected


def test_expired_session_is_renewed_with_the_refresh_token(
    page: Page, server: PreviewServer
) -> None:
    sign_in(page, server)
    page.evaluate(
        """() => {
          for (const key of Object.keys(sessionStorage).filter((k) => k.startsWith('oidc.user:'))) {
            const user = JSON.parse(sessionStorage.getItem(key));
            user.expires_at = Math.floor(Date.now() / 1000) - 60;
            sessionStorage.setItem(key, JSON.stringify(user));
          }
        }"""
    )
    choose(page, jpeg(800, 600))
    assert results(page) == ["qr_code 96.4%"]
    grants = [body for _, path, body in server.requests if path.endswith("/oauth2/token")]
    assert grants == [{"grant_type": "authorization_code"}, {"grant_type": "refresh_token"}]


def test_face_analysis_shows_age_range_and_emotions(page: Page, server: PreviewServer) -> None:
    sign_in(page, server)
    pick_mode(page, "Face analysis")
    choose(page, jpeg(1600, 1200))

    faces = results(page)
    assert len(faces) == 2
    assert all(part in faces[0] for part in ("Face 1", "Age 26–34", "Smiling", "happy 91.3%"))
    assert all(part in faces[1] for part in ("Face 2", "Age 41–49", "Glasses", "calm 84.0%"))
    expect(page.locator("#boxes .box.face")).to_have_count(2)
    screenshot(page, "face-analysis")


def test_code_mode_shows_the_isbn_in_both_forms_and_boxes_the_codes(
    page: Page, server: PreviewServer
) -> None:
    sign_in(page, server)
    pick_mode(page, "Read a code / ISBN")
    choose(page, code_images.book_back_photo())

    codes = results(page)
    assert len(codes) == 2
    qr, book = codes
    assert qr.startswith("QR Code")
    assert "https://example.com/books/4101010137" in qr
    assert book.startswith("EAN-13")
    assert "ISBN-13 9784101010137 · ISBN-10 4101010137" in book
    expect(page.locator("#boxes .box.code")).to_have_count(2)
    expect(page.locator("#threshold-row")).to_be_hidden()
    expect(page.locator("#feedback")).to_be_hidden()  # feedback is for the model's labels
    [key] = server.uploads
    assert api_calls(server, "/v1/codes") == [{"image": {"s3_key": key}}]
    screenshot(page, "codes")


def test_code_mode_in_japanese(browser: Browser, server: PreviewServer) -> None:
    page = _new_page(browser, locale="ja-JP")
    page.goto(server.origin + "/")
    page.get_by_role("button", name="サインイン").click()
    page.get_by_label("コード・ISBN を読む").check()
    choose(page, code_images.book_back_photo())

    book = results(page)[1]
    assert "ISBN-13 9784101010137・ISBN-10 4101010137" in book
    expect(page.locator("#results-note")).to_have_text(
        "デコーダーがその場で読み取ります。正確で、モデルの起動を待ちません。"
    )
    screenshot(page, "codes-ja")
    page.context.close()


def test_changing_mode_asks_again_without_uploading_again(
    page: Page, server: PreviewServer
) -> None:
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    results(page)
    pick_mode(page, "Face analysis")
    expect(page.locator("#results")).to_have_attribute("data-mode", "analyze")
    assert len(api_calls(server, "/v1/uploads")) == 1
    [key] = server.uploads
    assert api_calls(server, "/v1/faces/analyze") == [{"image": {"s3_key": key}}]


def test_japanese_text(browser: Browser, server: PreviewServer) -> None:
    page = _new_page(browser, locale="ja-JP")
    page.goto(server.origin + "/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.get_by_role("button", name="サインイン").click()
    expect(page.locator("#user-name")).to_have_text("preview@example.com")
    page.get_by_label("顔の分析").check()
    choose(page, jpeg(1600, 1200))
    faces = results(page)
    assert all(part in faces[0] for part in ("顔 1", "年齢 26〜34 歳", "笑顔", "喜び 91.3%"))
    screenshot(page, "face-analysis-ja")
    page.get_by_label("言語").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert "Age 26–34" in results(page)[0]
    page.context.close()


# --- the photo the page sends ----------------------------------------------------------


def test_a_48_megapixel_photo_is_shrunk_within_the_api_limits(
    page: Page, server: PreviewServer, tmp_path: Path
) -> None:
    photo = tmp_path / "48mp.jpg"
    photo.write_bytes(jpeg(8000, 6000, noise=True))  # noise: the worst case for JPEG size
    assert photo.stat().st_size > 15 * MB
    sign_in(page, server)
    page.set_input_files("#file", files=[photo])
    results(page)

    [data] = server.uploads.values()
    image = uploaded_image(server)
    assert image.format == "JPEG"
    assert max(image.size) <= 4096
    assert image.size[0] / image.size[1] == pytest.approx(4 / 3, rel=0.01)
    assert len(data) <= 4 * MB
    assert api_calls(server, "/v1/uploads")[0] == {
        "content_type": "image/jpeg",
        "content_length": len(data),
    }
    expect(page.locator("#sent")).to_contain_text("(original 8000 × 6000 px)")


def test_exif_orientation_is_applied_before_sending(page: Page, server: PreviewServer) -> None:
    # Stored 400x200 (red left, blue right); orientation 6 means "rotate 90° clockwise to view".
    sign_in(page, server)
    choose(page, jpeg(400, 200, exif_orientation=6))
    results(page)

    image = uploaded_image(server).convert("RGB")
    assert image.size == (200, 400)
    top, bottom = image.getpixel((100, 50)), image.getpixel((100, 350))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert (top[0] > 150, top[2] < 100) == (True, True), f"top should be red, is {top}"
    assert (bottom[0] < 100, bottom[2] > 150) == (True, True), f"bottom should be blue: {bottom}"
    assert "exif" not in uploaded_image(server).info, "metadata (GPS...) must not leave the phone"


@pytest.mark.parametrize(
    ("data", "name", "mime", "message"),
    [
        (
            png(50, 50),
            "tiny.png",
            "image/png",
            "too small (50 × 50 px); each side needs at least 64 px",
        ),
        (png(2100, 100), "strip.png", "image/png", "too long and thin (21.0:1); at most 20:1"),
        (b"not an image at all", "notes.jpg", "image/jpeg", "not a photo this page can read"),
    ],
    ids=["too-small", "aspect-ratio", "unreadable"],
)
def test_photos_breaking_a_limit_are_refused_before_upload(
    page: Page, server: PreviewServer, data: bytes, name: str, mime: str, message: str
) -> None:
    sign_in(page, server)
    choose(page, data, name, mime)
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert server.uploads == {}
    assert api_calls(server, "/v1/uploads") == []


# --- error states ----------------------------------------------------------------------


def test_model_starting_counts_down_from_retry_after_and_retries_by_itself(
    page: Page, server: PreviewServer
) -> None:
    calls = fail_first_labels_call(
        page, 503, {"code": "model_starting", "message": "starting"}, {"Retry-After": "3"}
    )
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.get_by_role("alert")).to_contain_text("The model is starting")
    expect(page.get_by_role("alert")).to_contain_text("Trying again in 3 s")
    expect(page.get_by_role("alert")).to_contain_text("Trying again in 2 s")
    assert results(page) == ["qr_code 96.4%"]
    assert calls == [1, 2], "the retry says it is one (demand is counted once per request)"
    assert len(server.uploads) == 1, "the retry reuses the upload"
    expect(page.get_by_role("alert")).to_be_hidden()


@pytest.mark.parametrize(
    ("status", "error", "headers", "message", "button"),
    [
        (
            409,
            {"code": "no_active_model", "message": "promote a model"},
            {},
            "No model has been promoted",
            "Try again",
        ),
        (
            401,
            {"code": "unauthenticated", "message": "Unauthorized"},
            {},
            "Your session has expired",
            "Sign in again",
        ),
        (
            413,
            {"code": "image_too_large", "message": "image bytes exceed 4 MB (DetectCustomLabels)"},
            {},
            "The photo was rejected: image bytes exceed 4 MB",
            None,
        ),
        (
            502,
            {"code": "upstream_error", "message": "an AWS call failed"},
            {},
            "could not answer (upstream_error)",
            "Try again",
        ),
    ],
    ids=["no-model", "session-expired", "rejected-by-api", "upstream"],
)
def test_error_answers_become_states_a_person_understands(
    page: Page,
    server: PreviewServer,
    status: int,
    error: dict[str, Any],
    headers: dict[str, str],
    message: str,
    button: str | None,
) -> None:
    page.route("**/v1/labels", lambda route: answer(route, status, error, headers))
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(message)
    expect(alert.get_by_role("button")).to_have_count(1 if button else 0)
    if button:
        expect(alert.get_by_role("button", name=button)).to_be_visible()
    assert "Traceback" not in page.content()


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (429, "throttled", "Too many requests"),
        # AWS did not answer in time: a retry, and not "the model is not running".
        (503, "upstream_unavailable", "did not answer in time"),
    ],
    ids=["throttled", "aws-late"],
)
def test_a_busy_answer_waits_and_retries(
    page: Page, server: PreviewServer, status: int, code: str, message: str
) -> None:
    calls = fail_first_labels_call(
        page, status, {"code": code, "message": "later"}, {"Retry-After": "1"}
    )
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert results(page) == ["qr_code 96.4%"]
    assert len(calls) == 2


def test_network_down_keeps_the_photo_and_sends_it_when_back_online(
    page: Page, server: PreviewServer
) -> None:
    sign_in(page, server)
    page.context.set_offline(True)
    expect(page.locator("#network-banner")).to_be_visible()
    choose(page, jpeg(800, 600))
    expect(page.get_by_role("alert").filter(has_text="did not reach the server")).to_be_visible()
    assert server.uploads == {}

    page.context.set_offline(False)
    assert results(page) == ["qr_code 96.4%"]
    expect(page.locator("#network-banner")).to_be_hidden()
    assert len(server.uploads) == 1


def test_cancel_stops_the_automatic_retry(page: Page, server: PreviewServer) -> None:
    page.route(
        "**/v1/labels",
        lambda route: answer(
            route, 503, {"code": "model_not_running", "message": "stopped"}, {"Retry-After": "2"}
        ),
    )
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.get_by_role("alert")).to_contain_text("The model is not running")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_be_hidden()
    page.wait_for_timeout(2500)
    assert len(api_calls(server, "/v1/uploads")) == 1
    expect(page.get_by_role("alert")).to_be_hidden()


# --- accessibility ---------------------------------------------------------------------


def test_keyboard_only_sign_in_and_labelled_controls(page: Page, server: PreviewServer) -> None:
    page.goto(server.origin + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "sign-in":
            break
    assert page.evaluate("document.activeElement.id") == "sign-in"
    page.keyboard.press("Enter")
    expect(page.locator("#user-name")).to_have_text("preview@example.com")

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button')]
              .filter((e) => !(e.labels && e.labels.length) && !e.textContent.trim()
                             && !e.getAttribute('aria-label'))
              .map((e) => e.id || e.outerHTML)"""
    )
    assert unlabelled == []
    for name in ("Custom labels", "Who is this? (face search)", "Face analysis"):
        expect(page.get_by_role("radio", name=name)).to_be_visible()
    expect(page.get_by_role("slider", name="Confidence threshold")).to_be_visible()
    expect(page.get_by_label("Choose a file")).to_be_attached()
    expect(page.get_by_label("Take a photo")).to_have_attribute("capture", "environment")


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_text_contrast_meets_wcag_aa(page: Page, server: PreviewServer) -> None:
    page.route(
        "**/v1/labels",
        lambda route: answer(route, 409, {"code": "no_active_model", "message": "x"}),
    )
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.get_by_role("alert")).to_be_visible()
    pairs = page.evaluate(
        """() => {
          const rgb = (s) => s.match(/\\d+/g).slice(0, 3).map(Number);
          const background = (e) => {
            for (; e; e = e.parentElement) {
              const c = getComputedStyle(e).backgroundColor;
              if (!c.startsWith('rgba(0, 0, 0, 0)')) return rgb(c);
            }
            return [255, 255, 255];
          };
          return [...document.querySelectorAll('h1, p, button, label, strong, .badge, li, output')]
            .filter((e) => e.offsetParent !== null && e.textContent.trim())
            .map((e) => [e.id || e.tagName, rgb(getComputedStyle(e).color), background(e)]);
        }"""
    )
    assert len(pairs) > 5
    for name, fg, bg in pairs:
        light, dark = sorted((_luminance(tuple(fg)), _luminance(tuple(bg))), reverse=True)
        ratio = (light + 0.05) / (dark + 0.05)
        assert ratio >= 4.5, f"{name}: contrast {ratio:.2f} ({fg} on {bg})"


def test_the_page_is_a_self_contained_build() -> None:
    html = (DIST / "index.html").read_text()
    assert "<script>" not in html, "inline code would break the CSP"
    assert "style=" not in html, "inline styles would break the CSP"
    assert '<script type="module" crossorigin src="./assets/' in html


# --- feedback and the review queue -------------------------------------------------------


def send_feedback(page: Page, server: PreviewServer, *, other: str | None = None) -> str:
    """Sign in, get a labels answer, and say what the photo really shows."""
    sign_in(page, server)
    choose(page, jpeg(1600, 1200))
    expect(page.locator("#feedback")).to_be_visible()
    if other is None:
        page.get_by_label("isbn_barcode (41.2%)").check()
    else:
        page.get_by_label("Something else").check()
        page.get_by_label("Label", exact=True).fill(other)
    page.get_by_role("button", name="Send").click()
    return next(iter(server.uploads))


def test_feedback_offers_the_answers_labels_and_sends_the_chosen_one(
    page: Page, server: PreviewServer
) -> None:
    key = send_feedback(page, server)

    expect(page.locator("#feedback-status")).to_have_text(
        "Thank you. The photo was added for review as “isbn_barcode”."
    )
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    choices = page.locator("#choice-list label").all_inner_texts()
    assert choices == ["qr_code (96.4%)", "isbn_barcode (41.2%)", "no_code (3.1%)"]
    [sent] = api_calls(server, "/v1/feedback")
    assert sent == {
        "s3_key": key,
        "model_version": "v1",
        "answered": [
            {"name": "qr_code", "confidence": 96.4},
            {"name": "isbn_barcode", "confidence": 41.2},
            {"name": "no_code", "confidence": 3.1},
        ],
        "label": "isbn_barcode",
        "new_label": False,
        "answer_source": "model",
    }


def test_something_else_checks_the_label_and_marks_a_new_one(
    page: Page, server: PreviewServer
) -> None:
    sign_in(page, server)
    choose(page, jpeg(1600, 1200))
    page.get_by_label("Something else").check()
    field = page.get_by_label("Label", exact=True)
    send = page.get_by_role("button", name="Send")

    field.fill("a/b")
    expect(page.locator("#other-hint")).to_contain_text("1–100 letters")
    expect(send).to_be_disabled()
    field.fill("qr_code")  # a known label: no hint
    expect(page.locator("#other-hint")).to_have_text("")
    field.fill("ISBN 4798045733")
    expect(page.locator("#other-hint")).to_have_text(
        "“ISBN 4798045733” is a new label; a reviewer will check it."
    )
    send.click()

    expect(page.locator("#feedback-status")).to_contain_text("ISBN 4798045733")
    [sent] = api_calls(server, "/v1/feedback")
    assert (sent or {})["new_label"] is True
    assert not [c for c in api_calls(server, "/v1/feedback") if c and c["label"] == "a/b"]


def test_a_refused_feedback_is_explained_and_can_be_sent_again(
    page: Page, server: PreviewServer
) -> None:
    calls: list[str] = []

    def expired(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            answer(route, 404, {"code": "upload_not_found", "message": "no upload"})
        else:
            route.fallback()

    page.route("**/v1/feedback", expired)
    send_feedback(page, server)

    expect(page.locator("#feedback-status")).to_have_text(
        "The photo is no longer on the server (uploads expire). Take or choose it again."
    )
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#feedback-status")).to_contain_text("Thank you")


def test_the_feedback_form_is_only_for_labels_answers(page: Page, server: PreviewServer) -> None:
    sign_in(page, server)
    pick_mode(page, "Face analysis")
    choose(page, jpeg(1600, 1200))
    results(page)

    expect(page.locator("#feedback")).to_be_hidden()


def test_a_reviewer_confirms_corrects_and_discards(page: Page, server: PreviewServer) -> None:
    sign_in(page, server)
    for width, choice in ((1600, "isbn_barcode"), (1601, "qr_code"), (1602, "qr_code")):
        choose(page, jpeg(width, 1200))  # three photos, three uploads, three items
        page.get_by_label(f"{choice} (").check()
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#feedback-status")).to_contain_text(f"as “{choice}”")
    assert len(server.feedback) == 3

    page.get_by_role("button", name="Show photos waiting for review").click()
    expect(page.locator("#review-status")).to_have_text("3 photo(s) waiting.")
    items = page.locator("#review-list li.review-item:not(.done)")
    expect(items).to_have_count(3)
    expect(items.first.get_by_role("img", name="Photo to review")).to_be_visible()
    screenshot(page, "review-queue")

    first, second, third = (items.nth(i).get_attribute("data-id") for i in range(3))
    items.first.get_by_role("button", name="Confirm").click()
    expect(page.locator(f'[data-id="{first}"]')).to_have_text("Confirmed as “isbn_barcode”.")
    row = page.locator(f'[data-id="{second}"]')
    row.get_by_label("Correct to").fill("no_code")
    row.get_by_role("button", name="Correct").click()
    expect(page.locator(f'[data-id="{second}"]')).to_have_text("Confirmed as “no_code”.")
    page.locator(f'[data-id="{third}"]').get_by_role("button", name="Discard").click()
    expect(page.locator(f'[data-id="{third}"]')).to_have_text("Discarded.")

    assert {i["feedback_id"]: (i["status"], i["label"]) for i in server.feedback.values()} == {
        first: ("confirmed", "isbn_barcode"),
        second: ("confirmed", "no_code"),
        third: ("discarded", "qr_code"),
    }
    reviews = api_calls(server, "/v1/review")
    assert {
        "feedback_id": second,
        "action": "correct",
        "label": "no_code",
        "new_label": False,
    } in reviews


def test_a_photo_someone_else_reviewed_first_is_said_so(page: Page, server: PreviewServer) -> None:
    send_feedback(page, server)
    page.get_by_role("button", name="Show photos waiting for review").click()
    item = page.locator("#review-list li.review-item").first
    page.route(
        "**/v1/review",
        lambda route: (
            answer(route, 409, {"code": "already_reviewed", "message": "taken"})
            if route.request.method == "POST"
            else route.fallback()
        ),
    )

    item.get_by_role("button", name="Discard").click()

    expect(page.locator("#review-list li.done")).to_have_text(
        "Someone else reviewed this photo first."
    )


def test_people_outside_the_reviewers_group_see_no_queue(browser: Browser) -> None:
    with PreviewServer(reviewer=False) as server:
        page = _new_page(browser)
        sign_in(page, server)
        choose(page, jpeg(1600, 1200))
        expect(page.locator("#feedback")).to_be_visible()
        expect(page.locator("#review")).to_be_hidden()
        page.context.close()


def test_feedback_and_review_in_japanese(browser: Browser, server: PreviewServer) -> None:
    page = _new_page(browser, locale="ja-JP")
    page.goto(server.origin + "/")
    page.get_by_role("button", name="サインイン").click()
    expect(page.locator("#user-name")).to_have_text("preview@example.com")
    choose(page, jpeg(1600, 1200))
    expect(page.locator("#feedback-title")).to_have_text("この結果は正しいですか？")
    page.get_by_label("isbn_barcode（41.2%）").check()
    page.get_by_role("button", name="送信").click()
    expect(page.locator("#feedback-status")).to_have_text(
        "ありがとうございます。写真を「isbn_barcode」としてレビューに追加しました。"
    )
    page.get_by_role("button", name="レビュー待ちの写真を表示").click()
    expect(page.locator("#review-status")).to_have_text("レビュー待ちの写真：1 枚")
    item = page.locator("#review-list li.review-item").first
    expect(item).to_contain_text("提案されたラベル：isbn_barcode")
    expect(item).to_contain_text("モデルの答え：qr_code（96.4%）")
    screenshot(page, "review-queue-ja")
    page.get_by_label("言語").select_option("en")
    expect(page.locator("#feedback-title")).to_have_text("Is this right?")
    expect(item).to_contain_text("Suggested: isbn_barcode")
    item.get_by_role("button", name="Confirm").click()
    expect(page.locator("#review-list li.done")).to_have_text("Confirmed as “isbn_barcode”.")
    page.context.close()


# --- provisional answers -------------------------------------------------------------


def thumbnail(colour: tuple[int, int, int]) -> str:
    """A small PNG as a data: URL (the page's CSP allows data: images)."""
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


PROVISIONAL = {
    "source": "provisional",
    "model_version": "v1",
    "model_status": "STARTING",
    "ready_in_minutes": 9,
    "start_reason": None,
    "labels": [
        {"name": "qr_code", "confidence": 70.8, "bounding_box": None},
        {"name": "no_code", "confidence": 29.2, "bounding_box": None},
    ],
    "neighbours": [
        {"label": "qr_code", "similarity": 0.91, "thumbnail_url": thumbnail((200, 0, 0))},
        {"label": "qr_code", "similarity": 0.88, "thumbnail_url": thumbnail((0, 200, 0))},
        {"label": "no_code", "similarity": 0.74, "thumbnail_url": thumbnail((0, 0, 200))},
    ],
    "review_requested": False,
}


def models_answer(status: str) -> dict[str, Any]:
    return {
        "active_model_version": "v1",
        "labels": ["no_code", "qr_code"],
        "versions": [{"model_version": "v1", "status": status, "created_at": None, "active": True}],
        "usage": {
            "today_unit_hours": 0.5,
            "month_unit_hours": 7.25,
            "usd_per_unit_hour": 4.0,
            "today_usd": 2.0,
            "month_usd": 29.0,
        },
    }


def provisional_then_model(page: Page, model: dict[str, str]) -> list[int]:
    """The first labels call answers provisionally, later ones as recorded; GET /v1/models
    answers ``model["status"]`` as it is when asked. Returns each labels call's attempt."""
    from inference_api.schema import LabelsResponse, ModelsResponse

    LabelsResponse.model_validate(PROVISIONAL)  # the shapes the API promises
    ModelsResponse.model_validate(models_answer("RUNNING"))
    calls: list[int] = []

    def labels(route: Route) -> None:
        calls.append(int((route.request.post_data_json or {}).get("attempt", 0)))
        if len(calls) == 1:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(PROVISIONAL))
        else:
            route.fallback()

    def models(route: Route) -> None:
        body = json.dumps(models_answer(model["status"]))
        route.fulfill(status=200, content_type="application/json", body=body)

    page.route("**/v1/labels", labels)
    page.route("**/v1/models", models)
    return calls


def test_a_provisional_answer_says_so_shows_the_nearest_photos_and_re_asks_once_running(
    page: Page, server: PreviewServer
) -> None:
    page.clock.install()
    model = {"status": "STARTING"}
    calls = provisional_then_model(page, model)
    sign_in(page, server)
    choose(page, jpeg(800, 600))

    badge = page.locator("#provisional")
    expect(badge).to_have_text(
        "Provisional, from the nearest training photos; the model is waking up, about 9 min."
    )
    assert results(page) == ["qr_code 70.8%"]  # no_code's 29.2% is under the 50% threshold
    thumbnails = page.locator("#neighbour-list img")
    expect(thumbnails).to_have_count(3)
    expect(thumbnails.first).to_have_attribute(
        "alt", "Training photo labelled qr_code, similarity 0.91"
    )
    assert page.locator("#neighbour-list img").evaluate_all(
        "imgs => imgs.every(i => i.complete && i.naturalWidth === 48)"
    )
    expect(page.locator("#model-status")).to_contain_text("Model v1: STARTING")
    expect(page.locator("#model-status")).to_contain_text("today 0.50 unit-h (about $2.00)")
    expect(page.locator("#model-status")).to_contain_text("this month 7.25 unit-h (about $29.00)")

    page.clock.run_for("00:31")  # one poll: still STARTING, nothing asked again
    expect(page.locator("#model-status")).to_contain_text("STARTING")
    assert calls == [1]
    model["status"] = "RUNNING"
    page.clock.run_for("00:31")  # the next poll finds it RUNNING: the model is asked

    expect(badge).to_be_hidden()
    expect(page.locator("#neighbours")).to_be_hidden()
    assert results(page) == ["qr_code 96.4%"]
    assert calls == [1, 2], "the re-ask is the same request's second attempt"
    assert len(server.uploads) == 1, "the re-ask reuses the upload"
    expect(page.locator("#model-status")).to_contain_text("RUNNING")


def test_a_provisional_answer_in_japanese(browser: Browser, server: PreviewServer) -> None:
    page = _new_page(browser, locale="ja-JP")
    try:
        provisional_then_model(page, {"status": "STARTING"})
        page.goto(server.origin + "/")
        page.get_by_role("button", name="サインイン").click()
        expect(page.locator("#user-name")).to_have_text("preview@example.com")
        choose(page, jpeg(800, 600))

        expect(page.locator("#provisional")).to_have_text(
            "仮の結果です（学習用の似た写真から）。モデルを起動中で、あと約 9 分かかります。"
        )
        expect(page.locator("#neighbours figcaption")).to_have_text("似ている学習用の写真")
        expect(page.locator("#neighbour-list img").first).to_have_attribute(
            "alt", "ラベル qr_code の学習用写真（類似度 0.91）"
        )
        expect(page.locator("#model-status")).to_contain_text("今月 7.25 ユニット時間（約 $29.00）")
    finally:
        page.context.close()


def test_a_stopped_model_waiting_for_sustained_demand_is_said_so(
    page: Page, server: PreviewServer
) -> None:
    waiting = {**PROVISIONAL, "model_status": "STOPPED", "ready_in_minutes": None}
    page.route(
        "**/v1/labels",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({**waiting, "start_reason": "sustained_demand"}),
        ),
    )
    sign_in(page, server)
    choose(page, jpeg(800, 600))

    expect(page.locator("#provisional")).to_have_text(
        "Provisional, from the nearest training photos; the model starts if more photos come."
    )


def test_feedback_on_a_provisional_answer_says_where_the_answer_came_from(
    page: Page, server: PreviewServer
) -> None:
    provisional_then_model(page, {"status": "STARTING"})
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.locator("#provisional")).to_be_visible()

    page.locator("#choice-list").get_by_label("no_code").check()
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#feedback-status")).not_to_have_text("")
    [sent] = api_calls(server, "/v1/feedback")
    assert sent is not None
    assert (sent["answer_source"], sent["label"], sent["model_version"]) == (
        "provisional",
        "no_code",
        "v1",
    )


# --- object detection: boxes drawn on the phone ----------------------------------------

DETECTED = {
    "source": "model",
    "model_version": "v1",
    "labels": [
        {
            "name": "qr_code",
            "confidence": 91.0,
            "bounding_box": {"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2},
        }
    ],
    "review_requested": False,
}


def detection_stage(page: Page, server: PreviewServer) -> None:
    """The offline preview as a stage whose project finds objects, answering one box."""
    from inference_api.schema import LabelsResponse

    from tools.web_preview import offline_config

    LabelsResponse.model_validate(DETECTED)
    config = {**offline_config(server.origin), "projectType": "object_detection"}
    page.route(
        "**/config.json",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(config)
        ),
    )
    page.route(
        "**/v1/labels",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(DETECTED)
        ),
    )


def frame_point(page: Page, x: float, y: float) -> tuple[float, float]:
    # The frame takes the photo's size once it is decoded: draw only then.
    page.wait_for_function(
        "() => { const i = document.getElementById('box-photo');"
        " return i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 0; }"
    )
    page.locator("#box-frame").scroll_into_view_if_needed()  # the mouse acts in the viewport
    box = page.locator("#box-frame").bounding_box()
    assert box is not None
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*frame_point(page, *start))
    page.mouse.down()
    page.mouse.move(*frame_point(page, *end), steps=5)
    page.mouse.up()


def touch_drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A finger's drag, as the browser reports it: pointer events of type touch."""
    frame = page.locator("#box-frame")
    for kind, point in (("pointerdown", start), ("pointermove", end), ("pointerup", end)):
        x, y = frame_point(page, *point)
        frame.dispatch_event(
            kind,
            {
                "pointerType": "touch",
                "pointerId": 7,
                "isPrimary": True,
                "clientX": x,
                "clientY": y,
                "bubbles": True,
            },
        )


def sent_boxes(server: PreviewServer) -> list[dict[str, Any]]:
    [sent] = api_calls(server, "/v1/feedback")
    assert sent is not None
    boxes: list[dict[str, Any]] = sent["boxes"]
    return boxes


def test_boxes_are_drawn_moved_resized_deleted_and_sent_with_a_mouse(
    page: Page, server: PreviewServer
) -> None:
    detection_stage(page, server)
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.locator("#box-editor")).to_be_visible()
    expect(page.locator("#box-frame .edit-box")).to_have_count(1)  # the model's box

    drag(page, (0.5, 0.5), (0.8, 0.9))  # a box the model missed
    expect(page.locator("#box-frame .edit-box")).to_have_count(2)
    drag(page, (0.2, 0.2), (0.3, 0.3))  # move the model's box by 10%
    handle = page.locator("#box-frame .edit-box .handle").nth(1)
    handle_box = handle.bounding_box()
    assert handle_box is not None
    page.mouse.move(handle_box["x"] + 8, handle_box["y"] + 8)
    page.mouse.down()
    page.mouse.move(*frame_point(page, 0.9, 0.95), steps=5)  # resize the new one
    page.mouse.up()
    drag(page, (0.02, 0.9), (0.1, 0.98))  # a third box, then deleted
    expect(page.locator("#box-frame .edit-box")).to_have_count(3)
    page.get_by_role("button", name="Delete box 3").click()
    page.get_by_label("Label of box 2").select_option("no_code")
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#feedback-status")).to_contain_text("Thank you")
    first, second = sent_boxes(server)
    assert first["label"] == "qr_code"
    assert (first["left"], first["top"]) == (
        pytest.approx(0.2, abs=0.02),
        pytest.approx(0.2, abs=0.02),
    )
    assert (first["width"], first["height"]) == (
        pytest.approx(0.2, abs=0.01),
        pytest.approx(0.2, abs=0.01),
    )
    assert second["label"] == "no_code"
    assert (second["left"], second["top"]) == (
        pytest.approx(0.5, abs=0.02),
        pytest.approx(0.5, abs=0.02),
    )
    assert second["left"] + second["width"] == pytest.approx(0.9, abs=0.03)
    assert second["top"] + second["height"] == pytest.approx(0.95, abs=0.03)


def test_a_box_is_drawn_with_a_finger(page: Page, server: PreviewServer) -> None:
    detection_stage(page, server)
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.locator("#box-frame .edit-box")).to_have_count(1)

    touch_drag(page, (0.4, 0.4), (0.7, 0.6))
    expect(page.locator("#box-frame .edit-box")).to_have_count(2)
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#feedback-status")).to_contain_text("Thank you")
    drawn = sent_boxes(server)[1]
    assert (drawn["left"], drawn["top"]) == (
        pytest.approx(0.4, abs=0.02),
        pytest.approx(0.4, abs=0.02),
    )
    assert (drawn["width"], drawn["height"]) == (
        pytest.approx(0.3, abs=0.02),
        pytest.approx(0.2, abs=0.02),
    )


def test_the_box_editor_in_japanese(browser: Browser, server: PreviewServer) -> None:
    page = _new_page(browser, locale="ja-JP")
    try:
        detection_stage(page, server)
        page.goto(server.origin + "/")
        page.get_by_role("button", name="サインイン").click()
        expect(page.locator("#user-name")).to_have_text("preview@example.com")
        choose(page, jpeg(800, 600))

        expect(page.locator("#box-editor .note")).to_contain_text(
            "写真の上をドラッグして枠を追加します"
        )
        expect(page.get_by_role("button", name="枠 1 を削除")).to_be_visible()
        expect(page.get_by_label("枠 1 のラベル")).to_have_value("qr_code")
        page.get_by_role("button", name="枠 1 を削除").click()
        expect(page.locator("#box-frame .edit-box")).to_have_count(0)
    finally:
        page.context.close()


def test_a_reviewer_corrects_the_boxes_of_a_queued_photo(page: Page, server: PreviewServer) -> None:
    detection_stage(page, server)
    sign_in(page, server)
    choose(page, jpeg(800, 600))
    expect(page.locator("#box-frame .edit-box")).to_have_count(1)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#feedback-status")).to_contain_text("Thank you")

    page.get_by_role("button", name="Show photos waiting for review").click()
    item = page.locator("#review-list .review-item").first
    expect(item.locator(".edit-box")).to_have_count(1)  # the boxes the person sent
    item.get_by_role("button", name="Delete box 1").click()
    expect(item.locator(".edit-box")).to_have_count(0)
    item.get_by_role("button", name="Confirm").click()

    expect(page.locator("#review-list")).to_contain_text("Confirmed")
    [(feedback_id, reviewed)] = list(server.feedback.items())
    assert (reviewed["status"], reviewed["boxes"]) == ("confirmed", [])
    [sent] = [
        body for method, path, body in server.requests if path == "/v1/review" and method == "POST"
    ]
    assert sent == {"feedback_id": feedback_id, "action": "confirm", "boxes": []}
