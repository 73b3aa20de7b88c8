from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from predictor import artifacts, training
from predictor.models import ModelVersion

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


def test_no_activate_keeps_the_current_version_active():
    first = training.train().version
    second = training.train(activate=False).version
    first.refresh_from_db()
    assert first.is_active and not second.is_active


def test_activate_version_switches_the_active_version():
    training.train()
    training.train()
    training.activate_version(1)
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
        "line 2, column Height: 'nan' is not allowed: Height must be a finite number",
    ),
    "infinite value": (
        "Height,Weight,Species\n80,inf,Cat\n81,41,Dog\n",
        "line 2, column Weight: 'inf' is not allowed: Weight must be a finite number",
    ),
    "negative value": (
        "Height,Weight,Species\n80,40,Cat\n-81,41,Dog\n",
        "line 3, column Height: '-81' is not allowed: Height must be greater than 0 cm",
    ),
    "zero value": (
        "Height,Weight,Species\n80,0,Cat\n81,41,Dog\n",
        "line 2, column Weight: '0' is not allowed: Weight must be greater than 0 kg",
    ),
    "above the bounds": (
        "Height,Weight,Species\n80,40,Cat\n81,501,Dog\n",
        "line 3, column Weight: '501' is not allowed: Weight must be at most 500 kg",
    ),
    "empty file": ("", "the file is empty"),
    "header only": ("Height,Weight,Species\n", "no data rows below the header"),
    "one class": ("Height,Weight,Species\n80,40,Cat\n81,41,Cat\n", "only one species ('Cat')"),
    "a class with one row": (
        "Height,Weight,Species\n80,40,Cat\n81,41,Cat\n90,50,Dog\n",
        "species 'Dog' has only 1 row",
    ),
    "empty species": ("Height,Weight,Species\n80,40,Cat\n81,41,\n", "line 3, column Species: empty value"),
}


@pytest.mark.parametrize("case", BAD_CSVS)
def test_bad_csv_is_rejected_with_file_and_place_and_changes_nothing(case, tmp_path, artifact_storage):
    active = training.train().version
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
    assert f"cross-validated accuracy: {version.cv_accuracy:.1%}" in summary
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


def test_activate_model_command_and_unknown_version():
    call_command("train_model", stdout=StringIO())
    call_command("train_model", stdout=StringIO())
    out = StringIO()
    call_command("activate_model", "1", stdout=out)
    assert "v1 is now active" in out.getvalue()
    assert ModelVersion.objects.active().get().version == 1
    with pytest.raises(CommandError, match="There is no model v9. Known versions: v2, v1"):
        call_command("activate_model", "9", stdout=StringIO())
