"""What the training picture's fixed margins buy: one picture drawn with them and with matplotlib's
constrained layout (what predictor/registry/training_picture.py used before), alternately, in one run.

Draws the light picture of a GaussianNB and of a random forest fitted on 200 made-up rows (the
shipped data's shape), as a training run does twice (light and dark), and prints the median time
per picture of each way.

    .venv/bin/python bench/training_picture.py [--rounds 10]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.naive_bayes import GaussianNB

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import throwaway_site_settings  # noqa: E402

TITLE = "v3 · RandomForestClassifier\ncross-validated accuracy 95.0%"


def constrained_layout(figure, *, columns: int, rows: int) -> None:
    figure.set_layout_engine("constrained")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    # The measurements' labels are translatable, so Django's settings are read (nothing is stored).
    with tempfile.TemporaryDirectory(prefix="mlsite-picture-") as workdir:
        os.environ.update(throwaway_site_settings(Path(workdir)))
        os.environ["DJANGO_SETTINGS_MODULE"] = "mlsite.settings"
        import django

        django.setup()
    from predictor.registry import training_picture
    from predictor.schema.features import FEATURES

    rng = np.random.default_rng(0)
    features = np.column_stack([rng.uniform(20, 80, 200), rng.uniform(3, 40, 200)])
    labels = np.where(features[:, 0] > 50, "Dog", "Cat")
    models = {
        "GaussianNB": GaussianNB().fit(features, labels),
        "RandomForestClassifier": RandomForestClassifier(random_state=0).fit(features, labels),
    }
    fixed_margins = training_picture._set_margins
    ways = {"fixed margins": fixed_margins, "constrained layout": constrained_layout}
    for name, model in models.items():
        times: dict[str, list[float]] = {way: [] for way in ways}
        for round_number in range(args.rounds + 1):
            order = list(ways) if round_number % 2 else list(reversed(ways))
            for way in order:
                training_picture._set_margins = ways[way]
                started = time.perf_counter()
                training_picture.render_png(model, features, labels, inputs=FEATURES, title=TITLE)
                if round_number:  # the first round warms matplotlib's font cache
                    times[way].append(time.perf_counter() - started)
        training_picture._set_margins = fixed_margins
        medians = {way: statistics.median(values) for way, values in times.items()}
        figures = ", ".join(f"{way} {seconds * 1000:.0f} ms" for way, seconds in medians.items())
        saved = 1 - medians["fixed margins"] / medians["constrained layout"]
        print(f"{name}: {figures} per picture (median of {args.rounds}); fixed margins save {saved:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
