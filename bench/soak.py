"""The soak as a script: ``python bench/soak.py [--seconds 600] [--rate 10]``.

Runs the full soak of ``tests/reliability/test_soak.py`` (real processes on the PostgreSQL of
``ZIXLY_TEST_POSTGRES_URL``, default 127.0.0.1:5432/test, in a scratch database) and leaves
its figures in ``test-artifacts/soak-<seconds>s.json``. Exit status: pytest's (0 = flat).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIN_SECONDS = 20.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("ZIXLY_SOAK_SECONDS", 600)))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", 10)), help="deliveries/s")
    args = parser.parse_args(argv)
    if args.seconds < MIN_SECONDS:
        parser.error(f"--seconds must be at least {MIN_SECONDS:g} (a warm-up and three thirds to compare)")
    env = os.environ | {"ZIXLY_SOAK_SECONDS": f"{args.seconds:g}", "SOAK_RATE": f"{args.rate:g}"}
    test = "tests/reliability/test_soak.py::test_a_long_soak_stays_flat"
    code = subprocess.call([sys.executable, "-m", "pytest", test, "-m", "slow", "-q", "-s"], cwd=ROOT, env=env)
    print(f"figures: {ROOT / 'test-artifacts' / f'soak-{int(args.seconds)}s.json'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
