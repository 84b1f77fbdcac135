"""A blind two-alternative test by a person: which of two outpaintings of the same photo looks real?

The two-sample classifier test (C2ST) is a small CNN; this is the same question put to a viewer.
`make` draws `--n` photos of an evaluation run (`python -m skysynth.eval task=outpaint ...`, whose
`images/` folder holds `NNNN_<method>.png`), puts the two methods' outputs side by side in a random
order (left/right), writes sheets of numbered pairs and keeps the key in `key.json` (do not open it
before choosing). The viewer writes one letter per pair, L or R, for the picture that looks more
like a real photo, in pair order, into a text file. `score` reads the key and the choices and
prints how often each method was chosen, with a 95% Wilson interval (0.5 = no preference).

    .venv/bin/python benchmarks/blind_pairs.py make --run work_data/reports/whole_right \
        --a skysynth --b resynthesizer --n 40 --out work_data/blind_right
    .venv/bin/python benchmarks/blind_pairs.py score --out work_data/blind_right --choices choices.txt
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

GAP = 8  # pixels between the two pictures of a pair and between pairs
LABEL = 18  # height of the pair's number above it


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def photos_with(run: Path, methods: list[str]) -> list[str]:
    """Photo numbers of `run/images` that have an output of every one of `methods`."""
    names = {p.name for p in (run / "images").glob("*.png")}
    numbers = sorted({n.split("_", 1)[0] for n in names})
    return [k for k in numbers if all(f"{k}_{m}.png" in names for m in methods)]


def make(args) -> None:
    run, out = Path(args.run), Path(args.out)
    numbers = photos_with(run, [args.a, args.b])
    if len(numbers) < args.n:
        sys.exit(f"error: {run}/images has {len(numbers)} photos with both {args.a} and {args.b}, asked for {args.n}")
    rng = random.Random(args.seed)
    chosen = rng.sample(numbers, args.n)
    key = [
        {"photo": k, "left": m, "right": o}
        for k in chosen
        for m, o in [rng.choice([(args.a, args.b), (args.b, args.a)])]
    ]
    out.mkdir(parents=True, exist_ok=True)
    sample = Image.open(run / "images" / f"{chosen[0]}_{args.a}.png")
    w, h = sample.size
    sheets = []
    for start in range(0, len(key), args.per_sheet):
        pairs = key[start : start + args.per_sheet]
        sheet = Image.new("RGB", (2 * w + GAP, len(pairs) * (h + LABEL + GAP)), "black")
        draw = ImageDraw.Draw(sheet)
        for row, pair in enumerate(pairs):
            y = row * (h + LABEL + GAP)
            draw.text((4, y + 3), f"pair {start + row + 1}: L | R", fill="white")
            for column, side in enumerate(("left", "right")):
                image = Image.open(run / "images" / f"{pair['photo']}_{pair[side]}.png").convert("RGB")
                sheet.paste(image.resize((w, h)), (column * (w + GAP), y + LABEL))
        path = out / f"sheet_{len(sheets) + 1:02d}.png"
        sheet.save(path)
        sheets.append(path.name)
    (out / "key.json").write_text(json.dumps({"run": str(run), "a": args.a, "b": args.b, "pairs": key}, indent=1))
    print(f"{len(key)} pairs on {len(sheets)} sheets in {out}; write L or R per pair, in order, then run `score`")


def score(args) -> None:
    out = Path(args.out)
    key = json.loads((out / "key.json").read_text())
    text = Path(args.choices).read_text().upper()
    choices = [c for c in text if c in "LR"]
    if len(choices) != len(key["pairs"]):
        sys.exit(f"error: {args.choices} has {len(choices)} choices (L or R), the key has {len(key['pairs'])} pairs")
    picked = [pair["left" if c == "L" else "right"] for c, pair in zip(choices, key["pairs"], strict=True)]
    n = len(picked)
    result = {"run": key["run"], "pairs": n}
    for method in (key["a"], key["b"]):
        k = picked.count(method)
        low, high = wilson(k, n)
        result[method] = {"chosen": k, "rate": k / n, "ci95": [low, high]}
        print(f"{method}: chosen in {k} of {n} pairs ({k / n:.2f}, 95% {low:.2f}-{high:.2f})")
    (out / "score.json").write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("make", help="draw the pairs and write the sheets and the key")
    m.add_argument("--run", required=True, help="an eval run's folder (with images/)")
    m.add_argument("--a", default="skysynth")
    m.add_argument("--b", default="resynthesizer")
    m.add_argument("--n", type=int, default=40)
    m.add_argument("--per-sheet", type=int, default=4)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", required=True)
    s = commands.add_parser("score", help="score a choices file against the key")
    s.add_argument("--out", required=True)
    s.add_argument("--choices", required=True, help="a text file: L or R per pair, in order")
    args = parser.parse_args()
    if args.command == "make":
        if args.n < 1 or args.per_sheet < 1:
            parser.error("--n and --per-sheet must be at least 1")
        if not (Path(args.run) / "images").is_dir():
            parser.error(f"--run: {args.run} has no images/ folder")
        make(args)
    else:
        if not (Path(args.out) / "key.json").is_file():
            parser.error(f"--out: {args.out} has no key.json (run `make` first)")
        if not Path(args.choices).is_file():
            parser.error(f"--choices: no such file: {args.choices}")
        score(args)


if __name__ == "__main__":
    main()
