"""FastAPI app: upload a sky photo, watch it grow (server-sent events), download the result.

One worker thread runs jobs one at a time in arrival order (a CPU has no room for two), so
concurrent requests queue instead of failing; each job streams its queue position, progress
and live previews of the token canvas.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field

import torch
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from PIL import Image, UnidentifiedImageError

from skysynth.common.images import ImageInputError, open_image
from skysynth.common.threads import use_threads
from skysynth.outpaint.cli import JobOptions
from skysynth.outpaint.config import CLOUD_CHOICES, OutpaintConfig
from skysynth.outpaint.layout import MAX_OUTPUT_PIXELS

ALLOWED_TYPES = {"JPEG", "PNG", "WEBP"}


@dataclass
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    max_input_pixels: int = 4_000_000
    max_output_pixels: int = 16_000_000
    max_output_side: int = 8192  # a 32-px-high strip 100,000 px wide is within the pixel limit
    max_samples: int = 4
    max_queue: int = 16  # jobs waiting or running; more are answered "busy" (HTTP 503)


class Cancelled(Exception):
    """The job's owner asked to stop it."""


@dataclass
class Job:
    image: Image.Image
    pad: tuple[int, int, int, int]
    seed: int
    temperature: float | None  # None = the server's pipeline config
    samples: int
    cloud_type: str | None = None  # None = the server's pipeline config
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    events: queue.Queue = field(default_factory=queue.Queue)
    results: list[bytes] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: bool = False


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


def read_upload(data: bytes, limits: Limits) -> Image.Image:
    """The uploaded image, or HTTPException(400/413) with a message a person can act on."""
    if len(data) == 0:
        raise HTTPException(400, "the file is empty")
    if len(data) > limits.max_bytes:
        raise HTTPException(413, f"the file is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB")
    try:
        with Image.open(io.BytesIO(data)) as image:  # the header only: no pixel decoded yet
            kind = image.format
            width, height = image.size
    except Image.DecompressionBombError:
        raise HTTPException(413, "the image has too many pixels to decode safely") from None
    except (UnidentifiedImageError, OSError):
        raise HTTPException(400, "this is not an image skysynth can read (use JPEG, PNG or WebP)") from None
    if kind not in ALLOWED_TYPES:
        raise HTTPException(400, f"{kind} images are not supported: use JPEG, PNG or WebP")
    if width * height > limits.max_input_pixels:
        raise HTTPException(413, f"the image is {width}x{height}; the limit is {limits.max_input_pixels / 1e6:.0f} MP")
    try:
        return open_image(data, max_pixels=limits.max_input_pixels)
    except ImageInputError as error:
        raise HTTPException(400, f"{error}".replace("the image", "the file", 1)) from None


class JobRunner:
    """Runs jobs in order on one thread; `submit` returns at once with the job's queue position."""

    def __init__(self, make_outpainter, keep: int = 32, max_queue: int = 16, threads: str = "auto"):
        self._make_outpainter = make_outpainter
        self._threads = threads  # CPU threads per job: auto = the cores free when the job starts
        self._outpainter = None
        self._pending: queue.Queue[Job] = queue.Queue()
        self._waiting: list[str] = []
        self.jobs: dict[str, Job] = {}
        self._keep, self._max_queue = keep, max_queue
        self._lock = threading.Lock()
        threading.Thread(target=self._work, daemon=True, name="skysynth-jobs").start()

    def submit(self, job: Job) -> int | None:
        """The job's queue position, or None when the queue is full (the caller says "busy")."""
        with self._lock:
            if sum(not j.finished for j in self.jobs.values()) >= self._max_queue:
                return None
            self.jobs[job.id] = job
            self._waiting.append(job.id)
            position = len(self._waiting)
            # Finished jobs are forgotten oldest first; a job still waiting or running never is.
            finished = sorted((j for j in self.jobs.values() if j.finished), key=lambda j: j.created)
            for old in finished[: max(0, len(self.jobs) - self._keep)]:
                self.jobs.pop(old.id, None)
        job.events.put({"type": "queued", "position": position})
        self._pending.put(job)
        return position

    def cancel(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.finished:
            return False
        job.cancelled.set()
        return True

    def _work(self) -> None:
        while True:
            job = self._pending.get()
            with self._lock:
                self._waiting.remove(job.id)
                for index, waiting in enumerate(self._waiting):
                    if waiting in self.jobs:
                        self.jobs[waiting].events.put({"type": "queued", "position": index + 1})
            if job.cancelled.is_set():
                job.events.put({"type": "error", "message": "cancelled"})
                job.finished = True
                continue
            self._run(job)
            job.finished = True

    def _run(self, job: Job) -> None:
        try:
            if self._outpainter is None:
                job.events.put({"type": "progress", "stage": "loading weights", "done": 0, "total": 1})
                self._outpainter = self._make_outpainter()
            op = self._outpainter
            last_preview = [0.0]

            def on_progress(event):
                if job.cancelled.is_set():
                    raise Cancelled
                message = {"type": "progress", "stage": event["stage"], "done": event["done"], "total": event["total"]}
                # Previews cost a decode: at most a few per second, and always the last one.
                now = time.time()
                if "preview" in event and (now - last_preview[0] > 0.4 or event["done"] == event["total"]):
                    message["preview"] = data_url(event["preview"]())
                    last_preview[0] = now
                job.events.put(message)

            use_threads(self._threads)
            generator = torch.Generator(device=op.device).manual_seed(job.seed)
            # Everything this job chooses is an argument of this one call: the shared Outpainter
            # is never changed, so jobs cannot leak settings into each other.
            result = op(
                job.image,
                pad=job.pad,
                samples=job.samples,
                generator=generator,
                temperature=job.temperature,
                cloud_type=job.cloud_type,
                callback=on_progress,
            )
            images = result.images
            job.results = [png_bytes(image) for image in images]
            job.events.put(
                {
                    "type": "done",
                    "results": [f"/api/jobs/{job.id}/result/{i}.png" for i in range(len(images))],
                    "size": list(images[0].size),
                    "timings": result.timings,
                    "cloud_type": result.cloud_type,
                }
            )
        except Cancelled:
            job.events.put({"type": "error", "message": "cancelled"})
        except ValueError as error:
            job.events.put({"type": "error", "message": str(error)})
        except Exception as error:  # keep the worker alive; tell the page what went wrong
            job.events.put({"type": "error", "message": f"internal error: {type(error).__name__}: {error}"})


def create_app(
    make_outpainter, limits: Limits | None = None, defaults: dict | None = None, threads: str = "auto"
) -> FastAPI:
    """The web app around `make_outpainter()` (called once, lazily, on the worker thread);
    `defaults` = the form's initial values (temperature: the pipeline config's); `threads`:
    CPU threads per job (skysynth.common.threads)."""
    from importlib.resources import files

    limits = limits or Limits()
    runner = JobRunner(make_outpainter, max_queue=limits.max_queue, threads=threads)
    app = FastAPI(title="skysynth", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def bad_form_value(request, error: RequestValidationError):
        # FastAPI's own answer is a list of objects, which a page shows as "[object Object]".
        said = []
        for problem in error.errors():
            field = ".".join(str(p) for p in problem.get("loc", ())[1:]) or "request"
            said.append(f"{field}: {problem.get('msg', 'is not valid')}".replace("Input should be", "should be"))
        return JSONResponse({"detail": "; ".join(said)}, status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(request, error: Exception):
        return JSONResponse({"detail": f"internal error: {type(error).__name__}: {error}"}, status_code=500)

    page = (files("skysynth.serve") / "static" / "index.html").read_text()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        sampling = OutpaintConfig().sampling
        initial = {"temperature": sampling.temperature, "cloud_type": sampling.cloud_type, **(defaults or {})}
        initial.update(seed=JobOptions.seed, samples=JobOptions.samples, cloud_type_choices=list(CLOUD_CHOICES))
        return page.replace("__LIMITS__", json.dumps(limits.__dict__)).replace("__DEFAULTS__", json.dumps(initial))

    @app.post("/api/jobs")
    async def create_job(
        file: UploadFile = File(...),
        left: int = Form(0),
        top: int = Form(0),
        right: int = Form(0),
        bottom: int = Form(0),
        seed: int = Form(JobOptions.seed),
        temperature: float | None = Form(None),
        samples: int = Form(JobOptions.samples),
        cloud_type: str | None = Form(None),
    ):
        image = read_upload(await file.read(), limits)
        pad = (left, top, right, bottom)
        if min(pad) < 0:
            raise HTTPException(400, "growth per side cannot be negative")
        if sum(pad) == 0:
            raise HTTPException(400, "choose how much to grow on at least one side")
        out_w, out_h = image.width + left + right, image.height + top + bottom
        if max(out_w, out_h) > limits.max_output_side:
            side = limits.max_output_side
            raise HTTPException(413, f"the result would be {out_w}x{out_h}; each side is limited to {side}")
        if out_w * out_h > min(limits.max_output_pixels, MAX_OUTPUT_PIXELS):
            raise HTTPException(
                413, f"the result would be {out_w}x{out_h}; the limit is {limits.max_output_pixels / 1e6:.0f} MP"
            )
        if not 1 <= samples <= limits.max_samples:
            raise HTTPException(400, f"variants must be between 1 and {limits.max_samples}")
        if temperature is not None and not 0.0 <= temperature <= 20.0:
            raise HTTPException(400, "temperature must be between 0 and 20")
        if cloud_type is not None and cloud_type not in CLOUD_CHOICES:
            raise HTTPException(400, f"cloud type must be one of {', '.join(CLOUD_CHOICES)}, got {cloud_type!r}")
        job = Job(image=image, pad=pad, seed=seed, temperature=temperature, samples=samples, cloud_type=cloud_type)
        position = runner.submit(job)
        if position is None:
            raise HTTPException(503, "the server is busy: too many jobs are waiting, try again in a minute")
        return {"id": job.id, "position": position, "events": f"/api/jobs/{job.id}/events"}

    @app.delete("/api/jobs/{job_id}")
    def cancel(job_id: str):
        if not runner.cancel(job_id):
            raise HTTPException(404, "no such job running or waiting")
        return {"id": job_id, "cancelled": True}

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str):
        job = runner.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")

        async def stream():
            while True:
                try:
                    event = job.events.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.05)
                    continue
                yield f"data: {json.dumps(event)}\n\n"
                if event["type"] in ("done", "error"):
                    return

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/jobs/{job_id}/result/{index}.png")
    def result(job_id: str, index: int):
        job = runner.jobs.get(job_id)
        if job is None or not 0 <= index < len(job.results):
            raise HTTPException(404, "no such result")
        return Response(
            job.results[index],
            media_type="image/png",
            headers={"Content-Disposition": f'attachment; filename="skysynth_{job_id}_{index}.png"'},
        )

    app.state.runner = runner
    return app
