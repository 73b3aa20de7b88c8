from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.urls import reverse

from predictor.models import ModelVersion, Prediction
from predictor.registry import artifacts, training, training_data, versions

pytestmark = pytest.mark.django_db


def write_csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_train_records_an_active_version_with_its_metrics(artifact_storage):
    result = training.train()
    version = ModelVersion.objects.get()
    assert version == result.version
    assert version.version == 1
    assert version.is_active
    assert version.algorithm == "GaussianNB"
    assert version.parameters["var_smoothing"] == pytest.approx(1e-9)
    assert version.training_rows == 10
    assert version.class_counts == {"Cat": 5, "Dog": 5}
    assert version.cv_folds == 5
    assert 0 <= version.cv_accuracy <= 1
    assert version.training_data_name == "animals.csv"
    assert version.training_data_sha256 == artifacts.sha256_hex(training.DEFAULT_TRAINING_DATA.read_bytes())
    stored = artifact_storage.open(version.artifact_name, "rb").read()
    assert artifacts.sha256_hex(stored) == version.artifact_sha256


def test_cross_validation_folds_adapt_to_the_smallest_class(tmp_path):
    rows = ["10,5,Cat", "11,6,Cat", "12,5,Cat", "40,30,Dog", "42,31,Dog"]
    path = write_csv(tmp_path, "Height,Weight,Species\n" + "\n".join(rows) + "\n")
    version = training.train(data_path=path).version
    assert version.cv_folds == 2
    assert 0 <= version.cv_accuracy <= 1

    path = write_csv(tmp_path, "Height,Weight,Species\n" + "\n".join([*rows, "41,29,Dog"]) + "\n")
    assert training.train(data_path=path).version.cv_folds == 3


def test_every_run_creates_a_new_active_version_with_its_own_artifact():
    first = training.train().version
    second = training.train().version
    first.refresh_from_db()
    assert (first.version, second.version) == (1, 2)
    assert second.is_active and not first.is_active
    assert first.artifact_name != second.artifact_name
    assert ModelVersion.objects.active().count() == 1


def test_no_activate_keeps_the_current_version_active(trained_version):
    first = trained_version
    second = training.train(activate=False).version
    first.refresh_from_db()
    assert first.is_active and not second.is_active


def test_activate_version_switches_the_active_version(make_version):
    make_version(is_active=True)
    make_version(is_active=True)
    versions.activate_version(1)
    assert list(ModelVersion.objects.active().values_list("version", flat=True)) == [1]


BAD_CSVS = {
    "missing column": ("Height,Species\n80,Cat\n81,Dog\n", "missing column Weight"),
    "non-numeric value": (
        "Height,Weight,Species\n80,40,Cat\n81,heavy,Dog\n",
        "line 3, column Weight: 'heavy' is not a number",
    ),
    "empty value": ("Height,Weight,Species\n80,40,Cat\n,41,Dog\n", "line 3, column Height: empty value"),
    "nan": (
        "Height,Weight,Species\nnan,40,Cat\n81,41,Dog\n",
        "line 2, column Height: 'nan' is not a number",
    ),
    "infinite value": (
        "Height,Weight,Species\n80,inf,Cat\n81,41,Dog\n",
        "line 2, column Weight: 'inf' is not a number",
    ),
    "negative value": (
        "Height,Weight,Species\n80,40,Cat\n-81,41,Dog\n",
        "line 3, column Height: '-81' is not allowed: Height must be at least 1 cm",
    ),
    "zero value": (
        "Height,Weight,Species\n80,0,Cat\n81,41,Dog\n",
        "line 2, column Weight: '0' is not allowed: Weight must be at least 0.01 kg",
    ),
    "above the bounds": (
        "Height,Weight,Species\n80,40,Cat\n81,501,Dog\n",
        "line 3, column Weight: '501' is not allowed: Weight must be at most 500 kg",
    ),
    "empty file": ("", "the file is empty"),
    "header only": ("Height,Weight,Species\n", "no data rows below the header"),
    "one class": ("Height,Weight,Species\n80,40,Cat\n81,41,Cat\n", "only one class ('Cat')"),
    "a class with one row": (
        "Height,Weight,Species\n80,40,Cat\n81,41,Cat\n90,50,Dog\n",
        "class 'Dog' has only 1 row",
    ),
    "a row longer than the header": (
        "Height,Weight,Species\n80,40,Cat,9\n81,41,Dog,9\n",
        "line 2, column (all): more values than the header has column names",
    ),
    "empty species": ("Height,Weight,Species\n80,40,Cat\n81,41,\n", "line 3, column Species: empty value"),
}


@pytest.mark.parametrize("case", BAD_CSVS)
def test_bad_csv_is_rejected_with_file_and_place_and_changes_nothing(case, tmp_path, artifact_storage, trained_version):
    active = trained_version
    files_before = artifact_storage.listdir("")[1]
    text, expected = BAD_CSVS[case]
    path = write_csv(tmp_path, text)

    with pytest.raises(CommandError) as raised:
        call_command("train_model", "--data", str(path), stdout=StringIO())

    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message
    assert list(ModelVersion.objects.values_list("version", "is_active")) == [(active.version, True)]
    assert artifact_storage.listdir("")[1] == files_before


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("train_model", "--data", str(tmp_path / "absent.csv"), stdout=StringIO())


def test_binary_file_is_rejected_as_unreadable(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50)
    with pytest.raises(CommandError, match=r"model\.bin: "):
        call_command("train_model", "--data", str(path), stdout=StringIO())
    assert not ModelVersion.objects.exists()


def test_extra_columns_and_blank_lines_are_tolerated(tmp_path):
    path = write_csv(
        tmp_path,
        "Name,Height,Weight,Species\nrex,88.9,48.3,Dog\n\nfelix,76.4,35.4,Cat\nfido,90,47,Dog\ntom,80,40,Cat\n",
    )
    assert training.train(data_path=path).version.training_rows == 4


def test_command_prints_a_summary():
    out = StringIO()
    call_command("train_model", stdout=out)
    version = ModelVersion.objects.get()
    summary = out.getvalue()
    assert "Trained model v1 (GaussianNB, active)" in summary
    assert "rows: 10" in summary and "Cat 5, Dog 5" in summary
    assert f"accuracy: {version.cv_accuracy:.1%} cross-validated on 10 rows (5-fold stratified)" in summary
    assert version.artifact_name in summary


def test_command_if_none_active_trains_only_once():
    call_command("train_model", "--if-none-active", stdout=StringIO())
    out = StringIO()
    call_command("train_model", "--if-none-active", stdout=out)
    assert ModelVersion.objects.count() == 1
    assert "not retraining" in out.getvalue()


def test_command_no_activate_flag():
    call_command("train_model", stdout=StringIO())
    call_command("train_model", "--no-activate", stdout=StringIO())
    assert ModelVersion.objects.active().get().version == 1


def test_activate_model_command_and_unknown_version(make_version):
    make_version(is_active=True)
    make_version(is_active=True)
    out = StringIO()
    call_command("activate_model", "1", stdout=out)
    assert "v1 is now active" in out.getvalue()
    assert ModelVersion.objects.active().get().version == 1
    with pytest.raises(CommandError, match="There is no model v9. Known versions: v2, v1"):
        call_command("activate_model", "9", stdout=StringIO())


# --- The model lifecycle: feedback, algorithms, the gate, large files, the training picture ---


def label(version, rows, *, user=None):
    """Store predictions of ``version`` with their actual species: (height, weight, predicted, actual)."""
    return [
        Prediction.objects.create(
            inputs={"height": height, "weight": weight},
            species=predicted,
            probability=0.9,
            probabilities={predicted: 0.9},
            model_version=version,
            actual_species=actual,
            labelled_by=user,
        )
        for height, weight, predicted, actual in rows
    ]


def test_include_feedback_adds_labelled_predictions_and_records_the_row_counts(trained_version):
    first = trained_version
    label(first, [(30, 5, "Cat", "Cat"), (100, 60, "Cat", "Dog"), (95, 55, "Dog", "Dog"), (31, 6, "Cat", None)])

    out = StringIO()
    call_command("train_model", "--include-feedback", stdout=out)
    version = ModelVersion.objects.get(version=2)
    assert (version.rows_from_csv, version.rows_from_feedback, version.training_rows) == (10, 3, 13)
    assert version.class_counts == {"Cat": 6, "Dog": 7}
    assert len(version.feedback_sha256) == 64
    assert version.training_stats["height"]["min"] == 30
    assert "rows: 13 (10 from " in out.getvalue() and "3 labelled predictions)" in out.getvalue()


def test_without_include_feedback_labels_are_not_used(trained_version):
    first = trained_version
    label(first, [(30, 5, "Cat", "Cat")])
    version = training.train().version
    assert (version.rows_from_csv, version.rows_from_feedback, version.training_rows) == (10, 0, 10)
    assert version.feedback_sha256 == ""


def test_include_feedback_with_nothing_labelled_trains_on_the_csv_alone():
    version = training.train(include_feedback=True).version
    assert (version.rows_from_csv, version.rows_from_feedback) == (10, 0)


@pytest.mark.parametrize("algorithm", sorted(training.ALGORITHMS))
def test_every_algorithm_trains_and_a_retrain_is_reproducible(algorithm):
    first = training.train(algorithm=algorithm, activate=False).version
    second = training.train(algorithm=algorithm, activate=False).version
    assert first.algorithm == second.algorithm == algorithm
    assert first.cv_accuracy == second.cv_accuracy
    assert first.parameters == second.parameters

    grid = np.array([[height, weight] for height in range(60, 101, 5) for weight in range(30, 61, 5)], dtype=float)
    models = [
        artifacts.load(v.artifact_name, expected_sha256=v.artifact_sha256, saved_with=v.sklearn_version).estimator
        for v in (first, second)
    ]
    assert (models[0].predict(grid) == models[1].predict(grid)).all()
    assert np.allclose(models[0].predict_proba(grid), models[1].predict_proba(grid))
    # Distance- and gradient-based classifiers see both features on one scale.
    assert ("scaler" in models[0].named_steps) == training.ALGORITHMS[algorithm].scaled


def test_command_offers_the_algorithms():
    out = StringIO()
    call_command("train_model", "--algorithm", "RandomForestClassifier", stdout=out)
    assert "Trained model v1 (RandomForestClassifier, " in out.getvalue()
    assert ModelVersion.objects.get().parameters["random_state"] == training.RANDOM_STATE
    with pytest.raises(CommandError, match="invalid choice: 'SVC'"):
        call_command("train_model", "--algorithm", "SVC", stdout=StringIO())


def test_an_algorithm_that_cannot_fit_the_rows_is_refused_clearly(tmp_path):
    path = write_csv(tmp_path, "Height,Weight,Species\n10,5,Cat\n11,6,Cat\n40,30,Dog\n42,31,Dog\n")
    with pytest.raises(CommandError, match=r"data\.csv: KNeighborsClassifier cannot be trained on these rows \("):
        call_command("train_model", "--data", str(path), "--algorithm", "KNeighborsClassifier", stdout=StringIO())
    assert not ModelVersion.objects.exists()


def test_gate_records_but_does_not_activate_a_less_accurate_version():
    active = training.train(algorithm="LogisticRegression").version
    out = StringIO()
    call_command("train_model", "--algorithm", "KNeighborsClassifier", stdout=out)
    candidate = ModelVersion.objects.get(version=2)
    active.refresh_from_db()
    assert active.is_active and not candidate.is_active
    assert candidate.cv_accuracy < candidate.baseline_cv_accuracy
    assert candidate.baseline_version == active.version
    # The baseline is the active algorithm re-run on the same rows and folds.
    assert candidate.baseline_cv_accuracy == active.cv_accuracy
    summary = out.getvalue()
    assert "Trained model v2 (KNeighborsClassifier, recorded, not active)." in summary
    assert (
        "gate: not activated: active v1's algorithm (LogisticRegression), trained and cross-validated on the same "
        f"rows and folds, scores {active.cv_accuracy:.1%}: the new version is below it; use --force" in summary
    )


def test_force_activates_a_less_accurate_version_and_says_so():
    training.train(algorithm="LogisticRegression")
    out = StringIO()
    call_command("train_model", "--algorithm", "KNeighborsClassifier", "--force", stdout=out)
    assert ModelVersion.objects.active().get().version == 2
    assert "gate: activated with --force, overriding the gate: active v1's algorithm" in out.getvalue()


def test_gate_compares_on_the_new_rows_not_the_active_versions_own_score(tmp_path):
    # v1 scored 100% on easy rows; on harder rows the same algorithm scores less, and so does v1's
    # algorithm: compared on the same rows, the retrain is not worse and goes live.
    easy = write_csv(
        tmp_path,
        "Height,Weight,Species\n"
        + "\n".join([f"{20 + i},{5 + i},Cat" for i in range(5)] + [f"{90 + i},{50 + i},Dog" for i in range(5)])
        + "\n",
        name="easy.csv",
    )
    first = training.train(data_path=easy).version
    assert first.cv_accuracy == 1.0
    second = training.train().version
    assert second.cv_accuracy < first.cv_accuracy
    assert second.is_active
    assert second.baseline_cv_accuracy == second.cv_accuracy


def test_no_activate_skips_the_gate():
    training.train(algorithm="LogisticRegression")
    version = training.train(algorithm="KNeighborsClassifier", activate=False).version
    assert version.baseline_version is None and version.baseline_cv_accuracy is None


def test_large_csv_is_read_in_chunks_with_the_same_rows_and_line_numbers(tmp_path):
    lines = [f"{50 + i % 40},{20 + i % 30},{'Cat' if i % 2 else 'Dog'}" for i in range(23)]
    lines.insert(9, "")  # a blank line inside the second chunk
    path = write_csv(tmp_path, "Height,Weight,Species\n" + "\n".join(lines) + "\n")
    whole = training_data.load_training_data(path)
    chunked = training_data.load_training_data(path, chunk_rows=4)
    assert chunked.rows == whole.rows == 23
    assert (chunked.features == whole.features).all() and (chunked.labels == whole.labels).all()
    assert chunked.sha256 == whole.sha256 == artifacts.sha256_hex(path.read_bytes())

    lines[20] = "55,heavy,Cat"  # file line 22: the header, then 21 lines of which this is the last
    path = write_csv(tmp_path, "Height,Weight,Species\n" + "\n".join(lines) + "\n")
    with pytest.raises(training.TrainingDataError, match="line 22, column Weight: 'heavy' is not a number"):
        training_data.load_training_data(path, chunk_rows=4)


def test_progress_is_quiet_when_not_on_a_terminal(capsys):
    call_command("train_model", stdout=StringIO())
    assert capsys.readouterr().err == ""


def test_progress_bar_shows_when_asked_and_work_is_slow(capsys, monkeypatch):
    monkeypatch.setattr(training_data, "PROGRESS_DELAY_SECONDS", 0)  # every step counts as slow
    training.train(show_progress=True)
    progress = capsys.readouterr().err
    assert "Reading animals.csv" in progress
    assert "Cross-validating GaussianNB" in progress


def test_training_saves_a_picture_beside_its_artifact(artifact_storage):
    version = training.train().version
    assert version.picture_name == version.artifact_name.removesuffix(".joblib") + ".png"
    with artifact_storage.open(version.picture_name, "rb") as picture:
        content = picture.read()
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(content) > 10_000


def test_training_picture_is_served_to_staff_only(client, admin_client, django_user_model, trained_version):
    version = trained_version
    url = reverse("predictor:model_picture", args=[version.version])
    response = admin_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")

    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(django_user_model.objects.create_user("visitor", password="pw-visitor-123"))
    assert client.get(url).status_code == 403


def test_missing_training_picture_is_a_404(admin_client, artifact_storage, trained_version):
    version = trained_version
    artifact_storage.delete(version.picture_name)
    assert admin_client.get(reverse("predictor:model_picture", args=[version.version])).status_code == 404


def test_admin_model_version_page_shows_the_training_picture(admin_client, trained_version):
    version = trained_version
    page = admin_client.get(reverse("admin:predictor_modelversion_change", args=[version.pk])).content.decode()
    assert f'src="{reverse("predictor:model_picture", args=[version.version])}"' in page
    assert f'srcset="{reverse("predictor:model_picture_dark", args=[version.version])}"' in page


def test_a_version_referenced_by_predictions_cannot_be_deleted_nor_its_artifact(artifact_storage, trained_version):
    version = trained_version
    label(version, [(80, 40, "Cat", None)])
    with pytest.raises(ProtectedError):
        version.delete()
    assert artifact_storage.exists(version.artifact_name)


def test_gate_lets_a_version_through_when_the_active_algorithm_cannot_train_on_the_new_rows(tmp_path):
    training.train(algorithm="KNeighborsClassifier", force=True)
    path = write_csv(tmp_path, "Height,Weight,Species\n10,5,Cat\n11,6,Cat\n40,30,Dog\n42,31,Dog\n")
    out = StringIO()
    call_command("train_model", "--data", str(path), stdout=out)
    assert ModelVersion.objects.active().get().version == 2
    assert "; active v1's KNeighborsClassifier cannot be trained on these rows" in out.getvalue()


# Cats and dogs of the same sizes: nothing in the measurements tells them apart.
CHANCE_LEVEL_CSV = "Height,Weight,Species\n" + "".join(
    f"{50 + i % 5},{20 + i % 5},{'Cat' if i % 2 else 'Dog'}\n" for i in range(20)
)


def test_the_gate_refuses_a_chance_level_model_and_says_it_is_no_better_than_guessing(tmp_path, admin_client):
    path = write_csv(tmp_path, CHANCE_LEVEL_CSV)
    out = StringIO()
    call_command("train_model", "--data", str(path), stdout=out)
    version = ModelVersion.objects.get()
    assert not version.is_active
    assert version.chance_cv_accuracy == pytest.approx(0.5)
    summary = out.getvalue()
    assert "Trained model v1 (GaussianNB, recorded, not active)." in summary
    assert (
        f"gate: not activated: it is no better than guessing: its cross-validated accuracy "
        f"{version.cv_accuracy:.1%} on these 20 rows does not beat the majority-class guess's 50.0% on the same "
        "rows and folds by the 3 rows chance alone gives; use --force to activate it anyway" in summary
    )
    listing = admin_client.get(reverse("predictor:model_list")).content.decode()
    assert '<small class="meta"><a href="/models/1/#gate">refused by the gate</a></small>' in listing
    page = admin_client.get(reverse("predictor:model_detail", args=[1])).content.decode()
    assert "The gate refused this version when it was trained" in page
    assert "scored 50.0% cross-validated on this version's 20 rows and folds" in page


def test_the_gate_refuses_a_chance_level_model_that_beats_a_worse_active_version(tmp_path):
    # Being at least as good as the active version is not enough: the floor is guessing.
    training.train(algorithm="KNeighborsClassifier", force=True, data_path=write_csv(tmp_path, CHANCE_LEVEL_CSV))
    result = training.train(data_path=write_csv(tmp_path, CHANCE_LEVEL_CSV))
    assert result.gate.beats_baseline and not result.gate.beats_chance
    assert not result.version.is_active
    assert "no better than guessing" in result.gate.reason


def test_force_activates_a_chance_level_model_and_says_what_it_overrode(tmp_path):
    path = write_csv(tmp_path, CHANCE_LEVEL_CSV)
    out = StringIO()
    call_command("train_model", "--data", str(path), "--force", stdout=out)
    assert ModelVersion.objects.active().get().version == 1
    assert (
        "gate: activated with --force, overriding the gate: it is no better than guessing: its cross-validated "
        "accuracy" in out.getvalue()
    )


def test_the_margin_over_guessing_is_one_binomial_standard_deviation_of_rows():
    assert training.chance_margin_rows(rows=10, chance_accuracy=0.5) == 2  # sd 1.58 rows
    assert training.chance_margin_rows(rows=14, chance_accuracy=0.5) == 2
    assert training.chance_margin_rows(rows=1000, chance_accuracy=0.5) == 16
    assert training.chance_margin_rows(rows=3, chance_accuracy=1 / 3) == 1  # at least one row
    # The shipped rows: GaussianNB gets 7 of 10 right, the guess 5, so it goes live on a first run.
    assert training.beats_chance(accuracy=0.7, chance_accuracy=0.5, rows=10)
    assert not training.beats_chance(accuracy=0.6, chance_accuracy=0.5, rows=10)


def test_every_figure_names_the_rows_it_was_measured_on(operator_client, trained_version):
    version = training.train().version
    assert version.cv_accuracy_summary == "70.0% cross-validated on 10 rows"
    listing = operator_client.get(reverse("predictor:model_list")).content.decode()
    assert '70.0%<br><small class="meta">cross-validated on 10 rows</small>' in listing
    page = operator_client.get(reverse("predictor:model_detail", args=[version.version])).content.decode()
    assert '<dd>70.0%</dd><dd class="figure-note">on 10 rows</dd>' in page
    assert "scored 50.0% cross-validated on this version's 10 rows and folds" in page
    assert "trained and cross-validated on this version's 10 rows and folds, scored 70.0%" in page
