"""English and Simplified Chinese: chosen from the browser or the switcher, and nothing left in English."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from predictor.models import Prediction
from predictor.registry import training
from predictor.schema.features import FEATURES, TARGET_COLUMN

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
PROJECT = Path(settings.BASE_DIR)
CATALOGUE = PROJECT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# Words a Chinese page may show in Latin letters: data (species names, algorithm, file names),
# units, product and format names, and the language switcher's "English".
ALLOWED_WORDS = {
    *("Cat", "Dog", "cm", "kg", "GaussianNB", "UTC", "CSV", "API", "JSON", "JavaScript", "English"),
    *("animals", "csv", "scikit", "learn", "admin", "staff", "Content", "Type", "application", "json", "api", "v1"),
    *("YYYY", "MM", "DD"),  # the day filters' format, which their messages name too
    # Names that are not words to translate: scikit-learn's class names and a CSV file's column headers.
    *training.ALGORITHMS,
    *(feature.column for feature in FEATURES),
    TARGET_COLUMN,
}
HIDDEN = re.compile(r"<(script|style|code|svg)\b.*?</\1>", re.S)
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z]+")


def english_left(html: str) -> set[str]:
    """Latin-letter words in a page's visible text and its readable attributes, less the allowed ones."""
    html = HIDDEN.sub(" ", html)
    readable = " ".join(re.findall(r'\b(?:title|aria-label|alt|placeholder)="([^"]*)"', html))
    text = re.sub(r"<[^>]+>", " ", html) + " " + readable
    text = re.sub(r"&[a-z]+;|v\d+|\d[\d.,:\-]*", " ", text)
    return set(LATIN_WORD.findall(text)) - ALLOWED_WORDS


@pytest.fixture
def staff_pages(admin_client, trained_version):
    admin_client.post("/", {"height": "30", "weight": "4.5"})
    prediction = Prediction.objects.get()
    upload = admin_client.post(
        reverse("predictor:batch_upload"),
        {"file": __import__("io").BytesIO(b"Height,Weight\n80,40\n90,48\n")},
    )
    return {
        "form": "/",
        "result": admin_client.post("/", {"height": "80", "weight": "40"}).wsgi_request.path,
        "history": reverse("predictor:history"),
        "models": reverse("predictor:model_list"),
        "model": reverse("predictor:model_detail", args=[trained_version.version]),
        "batch upload": reverse("predictor:batch_upload"),
        "batch result": admin_client.get(upload["Location"])["Location"],  # the finished job leads to its batch
        "prediction in admin": reverse("admin:predictor_prediction_change", args=[prediction.pk]),
    }


def test_a_chinese_browser_gets_every_page_in_chinese(client, admin_client, staff_pages):
    for name, url in staff_pages.items():
        response = admin_client.get(url, **CHINESE)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert '<html lang="zh-hans"' in html, name
        if "admin" not in name:
            assert not english_left(html), (name, english_left(html))
    answer = client.post("/", {"height": "30", "weight": "4.5"}, **CHINESE).content.decode()
    assert "这只动物与模型训练时见过的都不一样" in answer
    assert not english_left(answer), english_left(answer)
    for url in ("/accounts/login/", "/no-such-page/"):
        assert not english_left(client.get(url, **CHINESE).content.decode()), url


def test_the_form_and_its_errors_speak_chinese(client, trained_version):
    html = client.post("/", {"height": "", "weight": "abc"}, **CHINESE).content.decode()
    assert "请输入身高（cm）。" in html
    assert "体重必须是以 kg 为单位的数字，例如 42.5。" in html
    assert "请修正 2 个问题" in html


def test_dates_and_numbers_follow_the_language(client, admin_client, trained_version):
    client.post("/", {"height": "80", "weight": "40"})
    prediction = Prediction.objects.get()
    english = admin_client.get(reverse("predictor:history")).content.decode()
    chinese = admin_client.get(reverse("predictor:history"), **CHINESE).content.decode()
    local = prediction.created_at.astimezone(__import__("zoneinfo").ZoneInfo(settings.TIME_ZONE))
    assert f"{local.day} {local:%b %Y, %H:%M} UTC" in english
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M} UTC" in chinese


def test_the_switcher_remembers_the_choice_over_the_browser_language(client, trained_version):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans"' in page and "预测物种" in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert '<html lang="en"' in client.get("/", **CHINESE).content.decode()


def test_the_footer_offers_each_language_in_its_own_name_and_the_link_remembers_it(client, trained_version):
    html = client.get("/", **CHINESE).content.decode()
    assert ">English</a>" in html and ">简体中文</a>" in html
    response = client.get(reverse("predictor:language", args=["zh-hans"]), HTTP_REFERER="http://testserver/models/")
    assert response.status_code == 302 and response["Location"] == "http://testserver/models/"
    assert '<html lang="zh-hans"' in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # Back to a page of this site only; an unknown language is a 404.
    elsewhere = client.get(reverse("predictor:language", args=["en"]), HTTP_REFERER="https://evil.example/")
    assert elsewhere["Location"] == "/"
    assert '<html lang="en"' in client.get("/", **CHINESE).content.decode()
    assert client.get(reverse("predictor:language", args=["fr"])).status_code == 404


def test_the_admin_of_this_app_speaks_chinese(admin_client, trained_version):
    html = admin_client.get(reverse("admin:predictor_prediction_changelist"), **CHINESE).content.decode()
    for text in ("预测物种", "实际物种", "将所选预测导出为 CSV", "按预测物种（不区分大小写）或预测编号搜索。"):
        assert text in html, text


def test_api_errors_speak_the_clients_language(client, trained_version):
    response = client.post(
        "/api/v1/predict", {"height_cm": "tall", "weight_kg": 4}, content_type="application/json", **CHINESE
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "身高必须是以 cm 为单位的数字，例如 42.5。"


def test_every_string_marked_for_translation_is_translated(tmp_path):
    """makemessages over a copy of the code: each string it finds has a Chinese translation."""
    if shutil.which("xgettext") is None:
        if os.environ.get("REQUIRE_GETTEXT"):
            pytest.fail("GNU gettext is not installed: apt-get install gettext")
        pytest.skip("GNU gettext is not installed (apt-get install gettext)")
    for folder in ("predictor", "templates", "mlsite"):
        shutil.copytree(PROJECT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copy(PROJECT / "manage.py", tmp_path)
    (tmp_path / "locale").mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlsite.settings", "PYTHONPATH": str(tmp_path)}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    found = msgids(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    translated = {msgid for msgid, msgstr in catalogue(CATALOGUE).items() if msgstr}
    assert found - translated == set(), (
        "untranslated: run `make messages` and add them to locale/zh_hans_translations.py"
    )


def msgids(path: Path) -> set[str]:
    return set(catalogue(path))


def catalogue(path: Path) -> dict[str, str]:
    """msgid -> its (first) msgstr, from a .po file."""
    entries = {}
    for block in path.read_text().split("\n\n")[1:]:
        parts = re.split(r"^(msgid|msgid_plural|msgstr(?:\[0\])?|msgstr\[\d+\]) ", block, flags=re.M)
        fields = dict(zip(parts[1::2], parts[2::2], strict=True))
        text = {key: "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', value)) for key, value in fields.items()}
        entries[text["msgid"]] = text.get("msgstr", text.get("msgstr[0]", ""))
    return entries


def test_the_admin_names_this_app_in_chinese(admin_client, trained_version):
    html = admin_client.get(reverse("admin:index"), **CHINESE).content.decode()
    assert "Predictions" not in re.sub(r"<[^>]+>", " ", html).replace("Predictions, models", "")
    assert "预测" in html and "模型版本" in html and "API 密钥" in html


# An English sentence (or the rest of one): Latin-letter words with nothing but spaces,
# punctuation and numbers between them, three or more of them not allowed ones (names, units,
# version labels). A single word (a name, an abbreviation) passes; Chinese text ends a run.
ENGLISH_RUN = re.compile(r"[A-Za-z]+(?:[\s\d,.;:!?'’\"“”‘()/*…%+=<>-]+[A-Za-z]+)*")


def english_sentences(text: str) -> list[str]:
    """The runs of words in ``text`` with three or more English words that are not ALLOWED_WORDS."""
    # Code in the API's Markdown, header names (X-Request-ID), entities and element edges end a run.
    text = re.sub(r"`[^`]*`|\b[A-Z][A-Za-z]*(?:-[A-Za-z]+)+\b|&[a-z]+;|\|", " ¦ ", text)
    return [run for run in ENGLISH_RUN.findall(text) if len(english_words(run)) >= 3]


def english_words(run: str) -> list[str]:
    words = re.findall(r"[A-Za-z]+\d*", run)
    return [word for word in words if word not in ALLOWED_WORDS and not re.fullmatch(r"v\d+", word)]


def visible_sentences(html: str) -> list[str]:
    """English runs in a page's visible text and the attributes a reader or a screen reader meets."""
    html = HIDDEN.sub(" ", html)
    readable = re.findall(r'\b(?:title|aria-label|alt|placeholder)="([^"]*)"', html)
    readable += re.findall(r'<input[^>]*type="(?:submit|button)"[^>]*value="([^"]*)"', html)
    text = re.sub(r"<[^>]+>", " | ", html)  # an element's edge ends a run
    return english_sentences(" | ".join([text, *readable]))


def failed_retraining(admin_client) -> str:
    """A retraining started from a Chinese page on a CSV with a bad cell: its job page."""
    bad = __import__("io").BytesIO(b"Height,Weight,Species\n30,4,Cat\n31,5,Cat\n80,-3,Dog\n90,40,Dog\n")
    bad.name = "bad.csv"
    response = admin_client.post(
        reverse("predictor:retrain"), {"data": "upload", "file": bad, "algorithm": "GaussianNB"}, **CHINESE
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def test_no_english_sentence_on_any_page_a_visitor_or_staff_member_sees_in_chinese(
    client, admin_client, staff_pages, trained_version
):
    pages = {
        **staff_pages,
        "failed retraining job": failed_retraining(admin_client),
        "retraining job": admin_client.post(
            reverse("predictor:retrain"), {"data": "shipped", "algorithm": "GaussianNB"}, **CHINESE
        )["Location"],
        "comparison": reverse("predictor:candidate_comparison", args=[trained_version.version]),
        "admin index": reverse("admin:index"),
        "api docs": "/api/docs",
        "login": "/accounts/login/",
        "admin login": "/admin/login/",
    }
    for model in admin.site._registry:
        opts = model._meta
        pages[f"admin {opts.label}"] = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    found = {}
    for name, url in pages.items():
        visitor = client if "login" in name else admin_client
        response = visitor.get(url, **CHINESE)
        assert response.status_code == 200, (name, url, response.status_code)
        html = response.content.decode()
        if sentences := visible_sentences(html):
            found[name] = sentences
        if gaps := SPACE_AFTER_FULL_STOP.findall(running_text(html)):
            found[f"{name}: a space after a full stop"] = gaps
    request = RequestFactory().get("/", **CHINESE)
    request.user = AnonymousUser()
    for name in ("400", "403", "404", "413", "429", "500", "503_database"):
        with translation.override("zh-hans"):
            if sentences := visible_sentences(render_to_string(f"{name}.html", request=request)):
                found[f"{name} page"] = sentences
    assert not found, __import__("json").dumps(found, indent=1, ensure_ascii=False)


def test_the_api_docs_read_in_chinese(client, db):
    schema = client.get("/api/openapi.json", **CHINESE).json()
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in {"summary", "description"} and isinstance(value, str):
                    found.extend(english_sentences(value) + SPACE_AFTER_FULL_STOP.findall(value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    assert "预测" in schema["paths"]["/api/v1/predict"]["post"]["summary"]
    assert not found, found


def test_the_admin_names_every_app_and_model_in_chinese(admin_client, trained_version):
    html = admin_client.get(reverse("admin:index"), **CHINESE).content.decode()
    for name in ("预测", "登录尝试（django-axes）", "访问尝试", "任务队列（django-tasks）", "任务结果"):
        assert f">{name}<" in html, name
    assert ">预测数<" not in html  # "Predictions" is the app here, not a count
    for text in ("Access attempts", "Task results", "Tasks Database Backend", "Axes"):
        assert text not in html, text


def test_a_job_stores_its_error_in_the_language_of_the_page_that_started_it(admin_client, trained_version):
    """The worker runs in no request's language: the job keeps its starter's and runs in it."""
    from predictor import jobs
    from predictor.jobs import runner
    from predictor.models import Job

    with translation.override("zh-hans"):
        job = Job.objects.create(
            kind=Job.Kind.RETRAIN,
            arguments={
                "algorithm": "NoSuchAlgorithm",
                "include_feedback": False,
                "force": False,
                runner.LANGUAGE_ARGUMENT: translation.get_language(),
            },
        )
    with translation.override("en"):
        assert jobs.run(str(job.pk)) == Job.Status.FAILED
    job.refresh_from_db()
    assert job.error == "训练数据被拒绝：未知算法 'NoSuchAlgorithm'；请从以下算法中选择：" + ", ".join(
        training.ALGORITHMS
    ), job.error
    # And the page that starts one records the language it was in.
    response = admin_client.post(
        reverse("predictor:retrain"), {"data": "shipped", "algorithm": "GaussianNB"}, **CHINESE
    )
    started = Job.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and started.arguments[runner.LANGUAGE_ARGUMENT] == "zh-hans"


def test_chinese_sentences_have_no_space_after_a_full_stop(client, admin_client, staff_pages):
    for name, url in {**staff_pages, "visitor's form": "/"}.items():
        html = (client if name == "visitor's form" else admin_client).get(url, **CHINESE).content.decode()
        assert not SPACE_AFTER_FULL_STOP.findall(running_text(html)), name


# A Chinese sentence's end followed by a space and more of the same paragraph: 。 carries its own room.
SPACE_AFTER_FULL_STOP = re.compile(r"[。！？][ \t\n]+[^\s¦]")


def running_text(html: str) -> str:
    """The page's text with its inline elements (links, emphasis) taken out and the others marked ¦."""
    html = HIDDEN.sub(" ", html)
    html = re.sub(r"</?(?:a|span|strong|em|b|i|small|abbr|time|code|kbd|mark)\b[^>]*>", "", html)
    return re.sub(r"<[^>]+>", "¦", html)


def test_backup_and_restore_report_each_table_and_store_in_the_language_asked(trained_version, tmp_path):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("backup_site", str(tmp_path / "backup"), language="zh-hans", stdout=out)
    with pytest.raises(CommandError) as refusal:  # this site is not empty
        call_command("restore_site", str(tmp_path / "backup"), language="zh-hans", stdout=out)
    report = out.getvalue()
    assert "predictor.modelversion：1 行" in report and "个文件" in report
    assert " rows" not in report and " files" not in report
    assert str(refusal.value).startswith("本站已有数据") and not english_sentences(str(refusal.value))


def test_commands_answer_in_the_language_asked_or_in_language_code(settings, trained_version):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"^没有模型 v99。已有的版本：v\d+。$"):
        call_command("activate_model", "99", language="zh-hans")
    out = StringIO()
    call_command("activate_model", str(trained_version.version), language="zh-hans", stdout=out)
    assert out.getvalue().strip() == f"模型 v{trained_version.version} 现已启用。"
    call_command("candidate", "status", language="zh-hans", stdout=out)
    call_command("reap_jobs", language="zh-hans", stdout=out)
    assert "当前没有运行中的影子模型或金丝雀。" in out.getvalue() and not english_sentences(out.getvalue())
    settings.LANGUAGE_CODE = "zh-hans"
    out = StringIO()
    call_command("train_model", "--if-none-active", stdout=out)
    assert out.getvalue().strip() == f"模型 v{trained_version.version} 已启用；不重新训练。"
    settings.LANGUAGE_CODE = "en"
    call_command("train_model", "--if-none-active", stdout=out)
    assert out.getvalue().strip().endswith(f"Model v{trained_version.version} is active; not retraining.")
