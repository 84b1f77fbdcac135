"""A side-by-side page of an outpainting evaluation: one row per photo, sortable by any figure.

`report.html` beside `report.md`, the images as PNG files in `images/` next to it, so the page
opens from the folder with no server and no network.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

_SCRIPT = """
document.querySelectorAll('th[data-key]').forEach((th) => th.addEventListener('click', () => {
  const body = document.querySelector('tbody');
  const key = th.dataset.key;
  const up = th.dataset.order !== 'asc';
  document.querySelectorAll('th[data-key]').forEach((other) => delete other.dataset.order);
  th.dataset.order = up ? 'asc' : 'desc';
  const rows = [...body.querySelectorAll('tr')];
  rows.sort((a, b) => (parseFloat(a.dataset[key]) - parseFloat(b.dataset[key])) * (up ? 1 : -1));
  rows.forEach((row) => body.appendChild(row));
}));
"""

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1em; }
table { border-collapse: collapse; }
th, td { padding: 4px 6px; border-bottom: 1px solid #ddd; text-align: center; vertical-align: top; }
th[data-key] { cursor: pointer; text-decoration: underline dotted; }
th[data-order=asc]::after { content: ' \\25B2'; } th[data-order=desc]::after { content: ' \\25BC'; }
img { display: block; width: 160px; height: auto; image-rendering: auto; }
small { color: #555; }
"""


def _save_png(image: torch.Tensor, path: Path) -> None:
    pixels = (image.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    os.replace(tmp, path)


def _key(name: str) -> str:
    """A name as an HTML data attribute key (dataset camel-cases on dashes: avoid them)."""
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def write_page(
    out: Path,
    title: str,
    truths: torch.Tensor,
    outputs: dict[str, torch.Tensor],
    figures: dict[str, dict[str, torch.Tensor]],
    photo_figures: dict[str, torch.Tensor],
) -> Path:
    """Write `out/report.html` and `out/images/`.

    truths: (N, 3, H, W); outputs: method -> (N, 3, H, W), in column order; figures: method ->
    {figure name: (N,) values}; photo_figures: {name: (N,) values} of the photo itself."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    columns = [(name, None) for name in photo_figures]
    columns += [(name, method) for method in outputs for name in figures.get(method, {})]
    head = ["<th>#</th>", "<th>truth</th>"] + [f"<th>{html.escape(m)}</th>" for m in outputs]
    sortable = [
        f'<th data-key="{_key((m or "photo") + " " + n)}">{html.escape((m + " " if m else "") + n)}</th>'
        for n, m in columns
    ]
    rows = []
    for i in range(len(truths)):
        _save_png(truths[i], images / f"{i:04d}_truth.png")
        cells = [f"<td>{i}</td>", f'<td><img src="images/{i:04d}_truth.png" alt="truth {i}"></td>']
        data = []
        for method, batch in outputs.items():
            name = f"{i:04d}_{_key(method)}.png"
            _save_png(batch[i], images / name)
            said = ", ".join(f"{n} {float(v[i]):.3g}" for n, v in figures.get(method, {}).items())
            cells.append(f'<td><img src="images/{name}" alt="{html.escape(method)} {i}"><small>{said}</small></td>')
        for n, m in columns:
            value = float((photo_figures[n] if m is None else figures[m][n])[i])
            data.append(f'data-{_key((m or "photo") + " " + n)}="{value:.6g}"')
            cells.append(f"<td>{value:.3g}</td>")
        rows.append(f"<tr {' '.join(data)}>{''.join(cells)}</tr>")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        "<p>Click a figure's header to sort the photos by it.</p>"
        f"<table><thead><tr>{''.join(head + sortable)}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<script>{_SCRIPT}</script></body></html>"
    )
    path = out / "report.html"
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text(page)
    os.replace(tmp, path)
    return path
