"""docs/deployment.md is the operator's list of settings: a variable the code reads and the page omits fails here."""

import re

from predictor.tests.live_server import PROJECT_DIR

READS_A_VARIABLE = re.compile(r'(?:env_(?:int|bool|list|header)|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"')


def test_the_deployment_page_names_every_variable_the_settings_read_and_env_example_lists():
    page = (PROJECT_DIR / "docs" / "deployment.md").read_text()
    code = "".join((PROJECT_DIR / name).read_text() for name in ("mlsite/settings.py", "gunicorn.conf.py"))
    listed = re.findall(r"^([A-Z][A-Z0-9_]+)=", (PROJECT_DIR / ".env.example").read_text(), flags=re.M)
    variables = set(READS_A_VARIABLE.findall(code)) | set(listed)
    assert len(variables) > 50
    assert sorted(name for name in variables if f"`{name}`" not in page) == []
