"""A blind two-alternative test by a person: which of two outpaintings of the same photo looks real?

The two-sample classifier test (C2ST) is a small CNN; this is the same question put to a viewer.
`make` draws `--n` photos of an evaluation run (`python -m skysynth.eval task=outpaint ...`, whose
`images/` folder holds `NNNN_<method>.png`), puts the two methods' outputs side by side in a random
order (left/right), writes sheets of numbered pairs and keeps the key in `key.json` (do not open it
before choosing). The viewer writes one letter per pair, L or R, for the picture that looks more
like a real photo, in pair order, into a text file. `score` reads the key and the choices and
prints how often each method was chosen, with a 95% Wilson interval (0.5 = no preference).
`--run-b` takes method b from another run of the same photos (two settings of skysynth, say),
with `--name-a`/`--name-b` to tell them apart; `--differing` draws only photos whose two outputs
differ (a setting that changes few outputs is judged where it acts).

    .venv/bin/python benchmarks/blind_pairs.py make --run work_data/reports/whole_right \
        --a skysynth --b resynthesizer --n 40 --out work_data/blind_right
    .venv/bin/python benchmarks/blind_pairs.py score --out work_data/blind_right --choices choices.txt
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.eval.c2st import wilson_interval  # noqa: E402

GAP = 8  # pixels between the two pictures of a pair and between pairs
LABEL = 18  # height of the pair's number above it
DIFFER_LEVELS = 8  # `--differing`: outputs closer than this everywhere count as the same picture


def photos_with(run: Path, method: str) -> set[str]:
    """Photo numbers of `run/images` that have an output of `method`."""
    return {p.name.split("_", 1)[0] for p in (run / "images").glob(f"*_{method}.png")}


def differ(a: Image.Image, b: Image.Image) -> bool:
    """Do two pictures differ by more than DIFFER_LEVELS grey levels anywhere?"""
    if a.size != b.size:
        return True
    return max(high for _, high in ImageChops.difference(a, b).getextrema()) > DIFFER_LEVELS


def make(args) -> None:
    sides = {
        "a": {"run": str(Path(args.run)), "method": args.a, "name": args.name_a or args.a},
        "b": {"run": str(Path(args.run_b or args.run)), "method": args.b, "name": args.name_b or args.b},
    }
    if sides["a"]["name"] == sides["b"]["name"]:
        sys.exit(f"error: both sides are called {sides['a']['name']!r}: give --name-a and --name-b")
    numbers = sorted(photos_with(Path(sides["a"]["run"]), args.a) & photos_with(Path(sides["b"]["run"]), args.b))

    def picture(photo, side):
        return Image.open(Path(sides[side]["run"]) / "images" / f"{photo}_{sides[side]['method']}.png").convert("RGB")

    which = "photos"
    if args.differing:  # paired runs of two settings: only the photos the setting changed
        numbers = [k for k in numbers if differ(picture(k, "a"), picture(k, "b"))]
        which = "photos with differing outputs"
    if len(numbers) < args.n:
        sys.exit(f"error: {len(numbers)} {which} have outputs of both {args.a} and {args.b}, asked for {args.n}")
    rng = random.Random(args.seed)
    chosen = rng.sample(numbers, args.n)
    key = [{"photo": k, "left": left, "right": right} for k in chosen for left, right in [rng.choice(["ab", "ba"])]]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    w, h = picture(chosen[0], "a").size
    sheets = []
    for start in range(0, len(key), args.per_sheet):
        pairs = key[start : start + args.per_sheet]
        sheet = Image.new("RGB", (2 * w + GAP, len(pairs) * (h + LABEL + GAP)), "black")
        draw = ImageDraw.Draw(sheet)
        for row, pair in enumerate(pairs):
            y = row * (h + LABEL + GAP)
            draw.text((4, y + 3), f"pair {start + row + 1}: L | R", fill="white")
            for column, position in enumerate(("left", "right")):
                sheet.paste(picture(pair["photo"], pair[position]).resize((w, h)), (column * (w + GAP), y + LABEL))
        path = out / f"sheet_{len(sheets) + 1:02d}.png"
        sheet.save(path)
        sheets.append(path.name)
    (out / "key.json").write_text(json.dumps({"sides": sides, "pairs": key}, indent=1))
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
    result = {"sides": key["sides"], "pairs": n}
    for side, about in key["sides"].items():
        k = picked.count(side)
        low, high = wilson_interval(k, n)
        result[about["name"]] = {"chosen": k, "rate": k / n, "ci95": [low, high]}
        print(f"{about['name']}: chosen in {k} of {n} pairs ({k / n:.2f}, 95% {low:.2f}-{high:.2f})")
    (out / "score.json").write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("make", help="draw the pairs and write the sheets and the key")
    m.add_argument("--run", required=True, help="an eval run's folder (with images/)")
    m.add_argument("--a", default="skysynth")
    m.add_argument("--b", default="resynthesizer")
    m.add_argument("--run-b", help="the run that holds method b (default: --run)")
    m.add_argument("--name-a", help="what to call side a in the score (default: its method)")
    m.add_argument("--name-b", help="what to call side b in the score (default: its method)")
    m.add_argument("--n", type=int, default=40)
    m.add_argument(
        "--differing", action="store_true", help="only photos whose two outputs differ (paired runs of two settings)"
    )
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
        for run in filter(None, (args.run, args.run_b)):
            if not (Path(run) / "images").is_dir():
                parser.error(f"{run} has no images/ folder")
        make(args)
    else:
        if not (Path(args.out) / "key.json").is_file():
            parser.error(f"--out: {args.out} has no key.json (run `make` first)")
        if not Path(args.choices).is_file():
            parser.error(f"--choices: no such file: {args.choices}")
        score(args)


if __name__ == "__main__":
    main()
