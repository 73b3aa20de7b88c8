"""Load test: many concurrent form submissions against gunicorn; checks that nothing is lost.

Each client behaves like a browser: it loads the form, keeps the CSRF cookie, and posts the form
with the token and the form's submission key; the answer is the result page, whose own form it
fills in next. Afterwards the database must hold exactly one row per successful submission, with
the inputs that were sent. The clients and the checks live in predictor/tests/load.py, which the
slow serving tests run at a smaller size.

    python bench/load_test.py --requests 2000 --clients 16 --workers 4 [--train-loop]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/load_test.py
"""

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.tests.load import TOKEN_PATTERN, BrowserLikeClient, run_load_test

# The other benchmarks import these from here.
__all__ = ["TOKEN_PATTERN", "BrowserLikeClient", "run_load_test"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--train-loop", action="store_true", help="run train_model in a loop during the load")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    report = run_load_test(
        requests=args.requests,
        clients=args.clients,
        workers=args.workers,
        database_url=args.database_url,
        train_loop=args.train_loop,
    )
    print(("PostgreSQL: " if args.database_url else "SQLite: ") + report.summary())
    for problem in report.problems():
        print("PROBLEM:", problem)
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
