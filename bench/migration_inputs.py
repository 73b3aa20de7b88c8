"""How long migration 0017 (predictions' height_cm and weight_kg move into ``inputs``) takes at N rows.

    python bench/migration_inputs.py --rows 1000000                      # a throw-away SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/migration_inputs.py --rows 1000000

Builds a throw-away database at migration 0016 (the old shape), fills it with N predictions of
one version in one INSERT … SELECT (not timed), then times `migrate predictor 0017` in the same
process: the batched UPDATEs, dropping the two columns (SQLite rebuilds the table) and the new
indexes. On PostgreSQL the database is a fresh one beside DATABASE_URL, dropped afterwards.
"""

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.tests.live_server import temporary_postgres_database, throwaway_site_settings  # noqa: E402

BEFORE = [("predictor", "0016_model_version_chance_accuracy")]
AFTER = [("predictor", "0017_models_bring_their_inputs")]

# N rows from one SELECT: heights 20–119.9 cm, weights 1–80.9 kg, a day's worth of seconds apart.
FILL_SQL = {
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)
        INSERT INTO predictor_prediction
            (created_at, height_cm, weight_kg, species, probability, probabilities, model_version_id,
             source, outside_training_range)
        SELECT datetime('2026-01-01', '+' || i || ' seconds'), 20 + (i %% 1000) / 10.0, 1 + (i %% 800) / 10.0,
               CASE WHEN i %% 2 = 0 THEN 'Dog' ELSE 'Cat' END, 0.9, '{"Cat": 0.1, "Dog": 0.9}', %s, 'form', 0
        FROM n
    """,
    "postgresql": """
        INSERT INTO predictor_prediction
            (created_at, height_cm, weight_kg, species, probability, probabilities, model_version_id,
             source, outside_training_range)
        SELECT timestamptz '2026-01-01' + i * interval '1 second', 20 + (i %% 1000) / 10.0, 1 + (i %% 800) / 10.0,
               CASE WHEN i %% 2 = 0 THEN 'Dog' ELSE 'Cat' END, 0.9, '{"Cat": 0.1, "Dog": 0.9}', %s, 'form', false
        FROM generate_series(1, %s) AS i
    """,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    workdir = Path(tempfile.mkdtemp(prefix="mlsite-migration-bench-"))
    with ExitStack() as stack:
        os.environ.update(throwaway_site_settings(workdir), DJANGO_SETTINGS_MODULE="mlsite.settings")
        if base_url.startswith("postgres"):
            os.environ["DATABASE_URL"] = stack.enter_context(temporary_postgres_database(base_url))
        import django

        django.setup()
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        version = old.get_model("predictor", "ModelVersion").objects.create(
            version=1,
            algorithm="GaussianNB",
            training_data_name="animals.csv",
            training_data_sha256="0" * 64,
            training_rows=10,
            cv_accuracy=0.9,
            cv_folds=5,
            sklearn_version="1.7.0",
            training_stats={"height_cm": {"mean": 80.0, "min": 70.0, "max": 90.0}},
            artifact_name="model-v1.joblib",
            artifact_sha256="1" * 64,
            is_active=True,
        )
        started = time.perf_counter()
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(FILL_SQL["sqlite"], [args.rows, version.pk])
            else:
                cursor.execute(FILL_SQL["postgresql"], [version.pk, args.rows])
        print(f"{connection.vendor}: {args.rows:,} rows of the old shape in {time.perf_counter() - started:.1f} s")

        executor = MigrationExecutor(connection)
        started = time.perf_counter()
        executor.migrate(AFTER)
        seconds = time.perf_counter() - started
        new = executor.loader.project_state(AFTER).apps
        moved = new.get_model("predictor", "Prediction").objects.filter(inputs__height__isnull=False).count()
        print(f"migrate predictor 0017: {seconds:.1f} s; {moved:,} rows carry their inputs")
        connection.close()
    return 0 if moved == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
