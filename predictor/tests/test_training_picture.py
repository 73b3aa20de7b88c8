"""The training picture: the site's species colours, a dark variant, any number of measurements."""

import io
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from sklearn.naive_bayes import GaussianNB

from predictor.registry import artifacts, training, training_picture
from predictor.schema.features import FEATURES
from predictor.schema.inputs import Input

pytestmark = pytest.mark.django_db


def colours(png: bytes) -> Counter:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return Counter(image.get_flattened_data())


def hex_rgb(value: str) -> tuple[int, int, int]:
    return tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))


def test_training_draws_a_light_and_a_dark_picture_in_the_sites_colours(admin_client):
    version = training.train().version
    light = b"".join(admin_client.get(f"/models/{version.version}/picture.png").streaming_content)
    dark = b"".join(admin_client.get(f"/models/{version.version}/picture-dark.png").streaming_content)
    light_colours, dark_colours = colours(light), colours(dark)
    # The margin is the site's surface colour in each scheme.
    corner = Image.open(io.BytesIO(light)).convert("RGB").getpixel((0, 0))
    assert corner == hex_rgb(training_picture.SCHEMES["light"]["bg"])
    assert Image.open(io.BytesIO(dark)).convert("RGB").getpixel((0, 0)) == hex_rgb(
        training_picture.SCHEMES["dark"]["bg"]
    )
    # Cat and Dog points in the charts' first and second series colours.
    for scheme, found in (("light", light_colours), ("dark", dark_colours)):
        for series in training_picture.SCHEMES[scheme]["series"][:2]:
            assert found[hex_rgb(series)] > 20, (scheme, series)


def test_a_version_without_a_dark_picture_serves_the_light_one(admin_client, trained_version, artifact_storage):
    artifact_storage.delete(artifacts.dark_picture_name(trained_version.picture_name))
    response = admin_client.get(f"/models/{trained_version.version}/picture-dark.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == artifact_storage.open(trained_version.picture_name).read()


def test_the_model_page_offers_the_dark_picture_to_dark_screens(admin_client, trained_version):
    html = admin_client.get(f"/models/{trained_version.version}/").content.decode()
    assert f'srcset="/models/{trained_version.version}/picture-dark.png" media="(prefers-color-scheme: dark)"' in html


def test_the_picture_has_a_panel_for_each_pair_of_three_measurements():
    rng = np.random.default_rng(0)
    features = np.column_stack([rng.normal(80, 5, 40), rng.normal(40, 4, 40), rng.uniform(1, 12, 40)])
    labels = np.array(["Cat", "Dog"] * 20)
    two = training_picture.render_png(
        GaussianNB().fit(features[:, :2], labels), features[:, :2], labels, inputs=FEATURES, title="two"
    )
    age = Input("age", column="Age", unit="y", min_value=0, max_value=40, example=3)
    png = training_picture.render_png(
        GaussianNB().fit(features, labels), features, labels, inputs=(*FEATURES, age), title="three"
    )
    # Three panels (height-weight, height-age, weight-age) need a second row: twice as tall as one.
    assert Image.open(io.BytesIO(png)).size[1] > 1.8 * Image.open(io.BytesIO(two)).size[1]
