"""The seed: the Flask tutorial this project grew from, kept only as a yardstick for bench/.

As in the tutorial, it re-reads the pickled model on every request, builds a one-row pandas
DataFrame, calls predict and stores nothing. Served by bench/tutorial_baseline.py.
"""

import os

import joblib
import pandas as pd
from flask import Flask, render_template, request

app = Flask(__name__)
MODEL_PATH = os.environ["TUTORIAL_MODEL_PATH"]


@app.route("/", methods=["GET", "POST"])
def main():
    prediction = ""
    if request.method == "POST":
        classifier = joblib.load(MODEL_PATH)
        height, weight = request.form.get("height"), request.form.get("weight")
        features = pd.DataFrame([[height, weight]], columns=["Height", "Weight"], dtype=float)
        prediction = classifier.predict(features)[0]
    return render_template("website.html", output=prediction)
