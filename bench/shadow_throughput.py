"""Form throughput with and without a shadow, in one run against one gunicorn: what a shadow costs.

    python bench/shadow_throughput.py [--rounds 3] [--workers 2] [--connections 16] [--duration 10]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/shadow_throughput.py

Trains v1 (active) and v2 (not active), then alternates wrk runs of form submissions (as
bench/throughput.py sends them) without a candidate and with v2 as the shadow, `--rounds` times
each, in ABBA order, so a machine that gets busier or quieter mid-run weighs on both alike. Prints
each run, the median of each, and each round's rate with the shadow as a share of the rate without
(the goal: at least 90%), and checks that the rows submitted while the shadow ran hold v2's answer.
"""

import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402

from bench.server import add_wrk_arguments, parse_wrk_arguments, running_server  # noqa: E402
from bench.throughput import submit_to_site  # noqa: E402

WARM_UP_SUBMISSIONS = 50  # what submit_to_site sends through the real form before wrk starts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parse_wrk_arguments(parser)

    rates: dict[str, list[float]] = {"no candidate": [], "v2 as shadow": []}
    shadowed_rows = 0  # rows submitted while the shadow ran, warm-ups included
    with running_server(workers=args.workers, database_url=args.database_url) as server:
        server.manage("train_model", "--no-activate")
        for round_index in range(args.rounds):
            # ABBA: every other round runs the shadow first, so a table that grows as the run goes on
            # (each run adds thousands of rows) weighs on both alike, not always on the second.
            order = list(rates) if round_index % 2 == 0 else list(reversed(rates))
            for name in order:
                shadow = name == "v2 as shadow"
                server.manage("candidate", *(["shadow", "2"] if shadow else ["stop"]), check=False)
                time.sleep(1.5)  # every worker checks for a change once a second (ML_MODEL_CHECK_SECONDS)
                run, stored = submit_to_site(server, args)
                rates[name].append(run.per_second)
                shadowed_rows += (stored + WARM_UP_SUBMISSIONS) if shadow else 0
                print(
                    f"{name}: {run.per_second:,.0f} predictions/s, p50 {run.p50_ms:.1f} ms, "
                    f"p99 {run.p99_ms:.1f} ms, failures {run.failures}, rows stored {stored:,}"
                )
        costs = in_process_costs(server)
        scored = server.query(
            "SELECT COUNT(*) FROM predictor_prediction p JOIN predictor_modelversion v ON v.id = p.shadow_version_id "
            "WHERE v.version = 2 AND p.shadow_species IS NOT NULL"
        )[0][0]
    plain, shadowed = (statistics.median(values) for values in rates.values())
    # Each round's two runs are seconds apart: their ratio is the steadiest figure on a busy machine.
    ratios = [with_shadow / without for without, with_shadow in zip(*rates.values(), strict=True)]
    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(
        f"{database}, gunicorn {args.workers} workers, wrk {args.connections} connections, "
        f"{args.rounds} x {args.duration} s each: median {plain:,.0f}/s without a candidate, "
        f"{shadowed:,.0f}/s with a shadow; with/without per round "
        f"{', '.join(f'{ratio:.0%}' for ratio in ratios)}, median {statistics.median(ratios):.0%}"
    )
    for name, (predict_us, store_us) in costs.items():
        print(
            f"in one process, {name}: predict() {predict_us:.1f} µs, predict() and store {store_us:.0f} µs per answer"
        )
    # Requests still in flight when wrk stops are stored after the count, so a few more may be scored.
    print(f"rows scored by the shadow: {scored:,}; submitted while it ran: at least {shadowed_rows:,}")
    return 0 if scored >= shadowed_rows else 1


def in_process_costs(server) -> dict[str, tuple[float, float]]:
    """The shadow's own cost, free of wrk's noise: predict(), and predict() plus storing, in this process.

    Uses the server's throw-away database; best of five batches each, without and with the shadow.
    """
    os.environ.update(server.env, DJANGO_SETTINGS_MODULE="mlsite.settings")
    import django

    django.setup()
    from predictor.history import writer
    from predictor.serving import candidates, model_service

    measurements = {"height": 80.0, "weight": 40.0}

    def best_us(work, calls: int) -> float:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls):
                work()
            timings.append((time.perf_counter() - started) / calls * 1e6)
        return min(timings)

    costs = {}
    for name, start in (("no candidate", None), ("v2 as shadow", lambda: candidates.start_shadow(2))):
        if candidates.current() is not None:
            candidates.stop()
        if start is not None:
            start()
        model_service.clear_cache()
        assert (model_service.predict(measurements).second_opinion is not None) == (start is not None)
        costs[name] = (
            best_us(lambda: model_service.predict(measurements), 20_000),
            best_us(
                lambda: writer.record_prediction(result=model_service.predict(measurements)),
                500,
            ),
        )
    return costs


if __name__ == "__main__":
    sys.exit(main())
