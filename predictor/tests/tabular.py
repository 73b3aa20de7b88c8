"""Models of one's own for tests: scikit-learn's bundled data sets and a fruit CSV with a category column,
written to CSV, and ``train`` to run train_model on them. The ``three_models`` fixture (conftest.py)
serves them all beside the animals model.
"""

import random
from io import StringIO
from pathlib import Path

from django.core.management import call_command

IRIS_FLOWER = {"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def bundled_csv(tmp_path: Path, name: str) -> Path:
    """One of scikit-learn's bundled data sets as a CSV with its target's names as words."""
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = loaded.frame.drop(columns="target")
    frame["kind"] = [str(loaded.target_names[i]) for i in loaded.target]
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def fruit_csv(tmp_path: Path) -> Path:
    rows = ["Colour,Weight (g),Diameter (cm),Fruit"]
    draw = random.Random(0)
    for _ in range(60):
        colour = draw.choice(["red", "green", "yellow"])
        weight, diameter = draw.uniform(80, 250), draw.uniform(5, 12)
        fruit = "banana" if colour == "yellow" else "apple" if weight < 200 else "melon"
        rows.append(f"{colour},{weight:.1f},{diameter:.1f},{fruit}")
    return write_csv(tmp_path / "fruit.csv", "\n".join(rows) + "\n")


def train(*arguments: str) -> str:
    out = StringIO()
    call_command("train_model", *arguments, stdout=out)
    return out.getvalue()


def train_three_models(tmp_path: Path) -> None:
    """iris and wine (bundled, target "kind") and fruit (a Colour category, target "Fruit"), each v1 and active."""
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--target", "kind")
    train("--model", "wine", "--data", str(bundled_csv(tmp_path, "wine")), "--target", "kind")
    train("--model", "fruit", "--data", str(fruit_csv(tmp_path)), "--target", "Fruit")
