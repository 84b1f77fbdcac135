"""C2ST in fp32 against bf16 autocast on the test suite's synthetic skies: held-out accuracy per
fill (mirror, blurred, mean, other real skies) and seed, in one process. On a CPU without bf16
hardware the bf16 rows are emulated (slow, and not what a bf16 machine computes).

    python benchmarks/c2st_precision.py
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' synthetic skies
from skysynth.eval.c2st import two_sample_test  # noqa: E402
from tests.test_c2st import SMALL, skies, visible_fills, with_right_half  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    real = skies(40, seed=1)
    fills = {**visible_fills(real), "other_real": None}
    print("precision fill       seed accuracy ci_low seconds")
    for bf16 in (False, True):
        for name, fill in fills.items():
            generated = skies(40, seed=2) if fill is None else with_right_half(real, fill)
            for seed in (0, 1, 2):
                start = time.perf_counter()
                result = two_sample_test(real, generated, replace(SMALL, bf16=bf16), seed=seed)
                seconds = time.perf_counter() - start
                precision = "bf16" if bf16 else "fp32"
                figures = f"{result['accuracy']:8.3f} {result['ci_low']:6.3f} {seconds:7.1f}"
                print(f"{precision:9s} {name:10s} {seed:4d} {figures}", flush=True)


if __name__ == "__main__":
    main()
