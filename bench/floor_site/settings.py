"""This site's own settings (middleware, database, CSRF) with the bare views of urls.py added."""

from mlsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_site.urls"
