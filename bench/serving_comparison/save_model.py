"""Train GaussianNB on the shipped CSV and save it as one framework expects; run in that framework's venv.

The site trains on the same file (predictor/data/animals.csv) with the same columns, so all three
servers answer from the same fitted model. Run by bench/serving_comparison.py:

    python save_model.py bentoml CSV        # into the model store under $BENTOML_HOME
    python save_model.py mlflow CSV FOLDER  # an MLflow model folder
"""

import csv
import sys

from sklearn.naive_bayes import GaussianNB

FEATURES = ["Height", "Weight"]
TARGET = "Species"
BENTOML_MODEL = "animal_classifier"


def main() -> None:
    framework, data = sys.argv[1:3]
    with open(data, newline="") as file:
        rows = list(csv.DictReader(file))
    measurements = [[float(row[column]) for column in FEATURES] for row in rows]
    species = [row[TARGET] for row in rows]
    if framework == "bentoml":
        import bentoml

        bentoml.sklearn.save_model(BENTOML_MODEL, GaussianNB().fit(measurements, species))
    elif framework == "mlflow":
        import mlflow.sklearn
        import pandas as pd

        # Fitted on named columns: MLflow hands the model a DataFrame, and scikit-learn warns on
        # every request when the names it is queried with were not there at fitting time.
        frame = pd.DataFrame(measurements, columns=FEATURES)
        model = GaussianNB().fit(frame, species)
        mlflow.sklearn.save_model(model, sys.argv[3], input_example=frame.head(1))
    else:
        sys.exit(f"unknown framework {framework!r}: bentoml or mlflow")


if __name__ == "__main__":
    main()
