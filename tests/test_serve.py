"""The local web page: API limits and queueing (TestClient), and an end-to-end run in real
headless Chromium driven by Playwright."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from skysynth.outpaint.pipeline import Outpainter, OutpaintOutput
from skysynth.serve.app import Limits, create_app
from tests.conftest import sky_image, tiny_config, tiny_maskgit, tiny_upscaler, tiny_vqvae

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def tiny_outpainter() -> Outpainter:
    config = tiny_config(overrides=["sampling.decode_steps=2", "upscale.steps=1"])
    return Outpainter(tiny_vqvae(), tiny_maskgit(side=8), tiny_upscaler(), config).to("cpu")


def png(width: int, height: int, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    sky_image(width, height, seed).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels in its header (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def test_sixteen_bit_upload_is_not_white(client):
    import numpy as np

    grey = np.full((32, 32), 30000, np.uint16)  # a mid grey in 16 bits
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG")
    from skysynth.serve.app import read_upload

    image = read_upload(buffer.getvalue(), Limits())
    assert abs(np.asarray(image).mean() - 30000 / 257) < 1


def events_of(client: TestClient, url: str) -> list[dict]:
    with client.stream("GET", url) as response:
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


@pytest.fixture
def client():
    app = create_app(tiny_outpainter, Limits(max_bytes=200_000, max_input_pixels=100_000, max_output_pixels=400_000))
    return TestClient(app)


def test_upload_grows_streams_progress_and_serves_png(client):
    response = client.post(
        "/api/jobs",
        files={"file": ("sky.png", png(40, 32), "image/png")},
        data={"left": 8, "right": 24, "top": 0, "bottom": 8, "seed": 3},
    )
    assert response.status_code == 200, response.text
    events = events_of(client, response.json()["events"])
    assert events[0]["type"] == "queued" and events[-1]["type"] == "done"
    grow = [e for e in events if e.get("stage") == "grow tokens"]
    assert grow and grow[-1]["done"] == grow[-1]["total"] and "preview" in grow[-1]
    result = client.get(events[-1]["results"][0])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(result.content)).size == (72, 40)


@pytest.mark.parametrize(
    "payload, data, status, message",
    [
        (b"", {}, 400, "empty"),
        (b"GIF89a" + b"\0" * 100, {}, 400, "not an image"),
        (b"\0" * 300_000, {}, 413, "limit is"),
        ("big", {}, 413, "MP"),
        ("ok", {"left": 0, "right": 0}, 400, "at least one side"),
        ("ok", {"left": 2000, "right": 2000, "top": 2000}, 413, "the result would be"),
        ("ok", {"samples": 9}, 400, "variants"),
        ("bomb", {}, 413, "too many pixels"),
        ("truncated", {}, 400, "cannot read"),
    ],
)
def test_upload_limits_give_clear_messages(client, payload, data, status, message):
    if payload == "ok":
        payload = png(32, 32)
    elif payload == "big":
        payload = png(400, 300)
    elif payload == "bomb":
        payload = png_header_only(20000, 20000)
    elif payload == "truncated":
        buffer = io.BytesIO()
        sky_image(64, 64, 0).save(buffer, format="JPEG")
        payload = buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3]
    fields = {"left": 16, "right": 16, **data}
    response = client.post("/api/jobs", files={"file": ("x.png", payload, "image/png")}, data=fields)
    assert response.status_code == status and message in response.json()["detail"]


def test_concurrent_requests_queue_instead_of_failing(client):
    ids = []
    for seed in range(3):
        response = client.post(
            "/api/jobs",
            files={"file": ("sky.png", png(32, 32, seed), "image/png")},
            data={"left": 16, "right": 16, "seed": seed},
        )
        assert response.status_code == 200
        ids.append(response.json())
    assert [j["position"] for j in ids] == [1, 2, 3] or ids[0]["position"] == 1
    for job in ids:
        assert events_of(client, job["events"])[-1]["type"] == "done"


class BlockingOutpainter:
    """Stands in for Outpainter: each call waits until released, reporting progress meanwhile."""

    def __init__(self):
        self.release = threading.Event()
        self.device = "cpu"

    def __call__(self, image, pad, samples, generator, temperature=None, cloud_type=None, callback=None):
        while not self.release.wait(0.02):
            if callback is not None:
                callback({"stage": "grow tokens", "done": 0, "total": 1})
        return OutpaintOutput([image])


def test_a_bad_form_value_is_one_readable_message(client):
    response = client.post(
        "/api/jobs", files={"file": ("x.png", png(32, 32), "image/png")}, data={"left": 8, "seed": "abc"}
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.startswith("seed:") and "integer" in detail


def test_busy_queue_cancel_and_side_limit():
    fake = BlockingOutpainter()
    app = create_app(lambda: fake, Limits(max_queue=2, max_output_side=500))
    client = TestClient(app)

    def submit(**fields):
        data = {"left": 8, "right": 8, **fields}
        return client.post("/api/jobs", files={"file": ("x.png", png(32, 32), "image/png")}, data=data)

    response = submit(right=100000)
    assert response.status_code == 413 and "each side is limited to 500" in response.json()["detail"]
    first, second = submit().json(), submit().json()
    busy = submit()
    assert busy.status_code == 503 and "busy" in busy.json()["detail"]
    # Cancel the waiting job and the running one: both end with "cancelled", and room is made.
    assert client.delete(f"/api/jobs/{second['id']}").status_code == 200
    assert client.delete(f"/api/jobs/{first['id']}").status_code == 200
    for job in (first, second):
        assert events_of(client, job["events"])[-1] == {"type": "error", "message": "cancelled"}
    fake.release.set()
    third = submit()
    assert third.status_code == 200
    assert events_of(client, third.json()["events"])[-1]["type"] == "done"
    assert client.delete("/api/jobs/nosuchjob").status_code == 404


def test_finished_jobs_are_forgotten_first_never_running_ones():
    from skysynth.serve.app import Job, JobRunner

    fake = BlockingOutpainter()
    runner = JobRunner(lambda: fake, keep=2, max_queue=10)
    image = Image.new("RGB", (8, 8))
    jobs = [Job(image=image, pad=(4, 0, 0, 0), seed=0, temperature=4.0, samples=1) for _ in range(4)]
    for job in jobs:
        runner.submit(job)
    assert all(job.id in runner.jobs for job in jobs)  # over `keep`, but none has finished
    fake.release.set()
    deadline = time.monotonic() + 30
    while not all(job.finished for job in jobs):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.environ.get("SKYSYNTH_SKIP_BROWSER") == "1", reason="SKYSYNTH_SKIP_BROWSER=1")
def test_end_to_end_in_headless_chromium(tmp_path):
    import uvicorn
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Chromium is needed (make test installs Debian's chromium)"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(tiny_outpainter), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    photo = tmp_path / "sky.png"
    sky_image(48, 40, seed=7).save(photo)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-quic",
                ],
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#file", str(photo))
            page.wait_for_function("document.getElementById('inputinfo').textContent.includes('48')")
            page.fill("#target_w", "96")
            page.fill("#target_h", "56")
            page.dispatch_event("#target_h", "input")
            page.click("#go")
            page.wait_for_selector("img.result", timeout=60_000)
            assert "done: 96 x 56" in page.text_content("#status")
            assert page.get_attribute("#preview", "src").startswith("data:image/png")
            assert page.is_hidden("#preview") and page.is_hidden("#cancel")  # the result replaced the preview
            with page.expect_download() as download:
                page.click("a.download")
            saved = tmp_path / "result.png"
            download.value.save_as(saved)
            assert Image.open(saved).size == (96, 56)
            page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
            assert (tmp_path / "screenshot.png").stat().st_size > 1000
            # A refused value is said in words on the page.
            page.fill("#temperature", "50")
            page.click("#go")
            page.wait_for_function("document.getElementById('error').textContent.length > 0")
            assert "temperature must be between 0 and 20" in page.text_content("#error")
            # A phone: one column, nothing wider than the screen.
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_jobs_with_different_settings_do_not_leak_into_each_other():
    """Each job's temperature is an argument of its own call: the shared Outpainter's config
    never changes, and a job draws the same picture whatever is queued beside it."""
    op = tiny_outpainter()
    before = op.config
    client = TestClient(create_app(lambda: op))

    def post(temperature):
        data = {"left": 16, "seed": 3, **({"temperature": temperature} if temperature is not None else {})}
        return client.post("/api/jobs", files={"file": ("s.png", png(32, 32, 5), "image/png")}, data=data).json()

    def result_of(job):
        done = events_of(client, job["events"])[-1]
        assert done["type"] == "done", done
        return client.get(done["results"][0]).content

    # All sent before any is read: they wait in the queue together, each with its own settings.
    # (On these tiny networks temperature 0 draws another picture than any temperature >= 1.)
    jobs = [post(t) for t in (0.0, 12.0, 0.0, None, 4.0)]
    first, hot, again, default, four = (result_of(job) for job in jobs)
    assert first == again and first != hot and default == four
    assert op.config is before and op.config.sampling.temperature == 4.0
    assert result_of(post(12.0)) == hot  # and alone it draws what it drew beside the others


def test_the_cloud_type_is_chosen_per_job_and_checked():
    from skysynth.common.cloud_types import CLOUD_TYPES
    from skysynth.outpaint.pipeline import Outpainter
    from tests.conftest import tiny_config, tiny_maskgit, tiny_upscaler, tiny_vqvae
    from tests.test_cloud_type import FixedClassifier

    maskgit = tiny_maskgit(class_names=CLOUD_TYPES)
    op = Outpainter(tiny_vqvae(), maskgit, tiny_upscaler(), tiny_config(), FixedClassifier("cirrus")).to("cpu")
    client = TestClient(create_app(lambda: op))

    def done_of(**data):
        job = client.post(
            "/api/jobs", files={"file": ("s.png", png(32, 32, 5), "image/png")}, data={"left": 16, **data}
        )
        return events_of(client, job.json()["events"])[-1]

    assert done_of(cloud_type="cumulus")["cloud_type"] == "cumulus"
    assert done_of()["cloud_type"] == "cirrus"  # auto: the input's own type by the classifier
    assert done_of(cloud_type="none")["cloud_type"] is None
    bad = client.post(
        "/api/jobs", files={"file": ("s.png", png(32, 32), "image/png")}, data={"left": 16, "cloud_type": "stormy"}
    )
    assert bad.status_code == 400 and "must be one of auto, none, cumulus" in bad.json()["detail"]
    unconditional = TestClient(create_app(tiny_outpainter))
    job = unconditional.post(
        "/api/jobs", files={"file": ("s.png", png(32, 32), "image/png")}, data={"left": 16, "cloud_type": "cumulus"}
    ).json()
    error = events_of(unconditional, job["events"])[-1]
    assert error["type"] == "error" and "needs a class-conditional MaskGIT" in error["message"]
