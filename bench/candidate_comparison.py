"""How long the candidate comparison page's queries take at a million rows both versions scored.

    python bench/candidate_comparison.py [--rows 1000000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/candidate_comparison.py

Builds a throw-away database (a temporary SQLite file, or a fresh PostgreSQL database created
beside DATABASE_URL and dropped afterwards) with two versions and N predictions that both scored
(a canary's share answered by the candidate, the rest by the active version with the candidate's
second opinion), a tenth of them labelled, plus N/2 rows scored by the active version alone. Then
times `comparison.compare()` (the figures) and `comparison.disagreements()` (the list to label),
and the whole page through Django's test client, each as the median of five runs after a warm-up.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import throwaway_site_settings  # noqa: E402
from predictor.tests.live_server import temporary_postgres_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-comparison-")))
        os.environ.update(throwaway_site_settings(workdir), DJANGO_SETTINGS_MODULE="mlsite.settings")
        os.environ["DATABASE_URL"] = (
            stack.enter_context(temporary_postgres_database(args.database_url))
            if args.database_url.startswith("postgres")
            else ""
        )
        return run(args.rows)


def run(rows: int) -> int:
    import django

    django.setup()
    import numpy as np
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    from predictor.history import _sql
    from predictor.models import Prediction
    from predictor.registry import comparison, training

    call_command("migrate", verbosity=0)
    active = training.train().version
    candidate = training.train(activate=False).version

    started = time.perf_counter()
    rng = np.random.default_rng(0)

    def insert(count: int, *, answered_by, second_opinion) -> None:
        heights, weights = rng.uniform(20, 120, count), rng.uniform(2, 80, count)
        species = np.where(heights > 80, "Dog", "Cat")
        other = np.where(rng.random(count) < 0.9, species, np.where(species == "Cat", "Dog", "Cat"))
        labels = np.where(rng.random(count) < 0.8, species, other)
        columns = {
            "species": species.tolist(),
            "probability": rng.uniform(0.5, 1, count).tolist(),
            "outside_training_range": [False] * count,
            "actual_species": np.where(rng.random(count) < 0.1, labels, None).tolist(),
        }
        constants = {
            "model": answered_by.model_id,
            "model_version": answered_by.pk,
            "source": "form",
            "created_at": django.utils.timezone.now(),
        }
        if second_opinion is not None:
            columns |= {"shadow_species": other.tolist(), "shadow_probability": rng.uniform(0.5, 1, count).tolist()}
            constants["shadow_version"] = second_opinion.pk
        probabilities = np.full((count, 2), 0.5)
        _sql.insert_predictions(
            columns=columns,
            inputs={"height": heights.tolist(), "weight": weights.tolist()},
            constants=constants,
            classes=("Cat", "Dog"),
            probabilities=probabilities,
        )

    canary_rows = rows // 10
    insert(rows - canary_rows, answered_by=active, second_opinion=candidate)
    insert(canary_rows, answered_by=candidate, second_opinion=active)
    insert(rows // 2, answered_by=active, second_opinion=None)
    # What autovacuum does soon after a bulk load. SQLite gets no ANALYZE: nothing runs one on a site,
    # so its planner works without statistics here too.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE predictor_prediction")
    print(f"inserted {rows + rows // 2:,} predictions in {time.perf_counter() - started:.0f} s (setup, not measured)")

    def median_ms(work) -> float:
        work()
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            timings.append(time.perf_counter() - started)
        return statistics.median(timings) * 1000

    figures = comparison.compare(candidate)
    print(
        f"{connection.vendor}: {figures.rows:,} rows both scored, agreement {figures.agreement_percent}, "
        f"{figures.labelled:,} labelled, p = {figures.p_value_text}"
    )
    print(f"compare(): {median_ms(lambda: comparison.compare(candidate)):.0f} ms median of 5")
    print(f"disagreements(): {median_ms(lambda: comparison.disagreements(candidate, active)):.0f} ms median of 5")

    user = get_user_model().objects.create_superuser("bench-staff", "bench@example.com", "x")
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        url = f"/models/{candidate.version}/comparison/"
        assert client.get(url).status_code == 200
        print(f"comparison page {url}: {median_ms(lambda: client.get(url)):.0f} ms median of 5")
    assert Prediction.objects.count() == rows + rows // 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
