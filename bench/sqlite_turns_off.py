"""This site's settings with one of SQLite's write-turn devices (predictor/ops/sqlite_turns.py) switched off.

For benchmarks only, to weigh a device against the site without it in one run: pass
``--set DJANGO_SETTINGS_MODULE=bench.sqlite_turns_off BENCH_SQLITE_TURNS_OFF=NAME`` to
bench/batch_job.py or bench/batch_job_under_load.py (both the site and its job worker read it).
NAME, comma-separated:

- ``poll``: hot writes run straight into SQLite's own busy handler (no ``execute_write`` polling);
- ``pause``: a batch job stores its chunks without any pause between them;
- ``idle``: a batch job pauses a whole chunk after every chunk, whether or not anyone else writes
  (what ``SqliteTurns`` replaced).

The switch is made here because settings load before any of the site's modules import these.
"""

import os

from mlsite.settings import *  # noqa: F403
from predictor.ops import sqlite_turns

OFF = {name.strip() for name in os.environ.get("BENCH_SQLITE_TURNS_OFF", "").split(",") if name.strip()}
if unknown := OFF - {"poll", "pause", "idle"}:
    raise ValueError(f"BENCH_SQLITE_TURNS_OFF: unknown {sorted(unknown)}")

if "poll" in OFF:
    sqlite_turns.execute_write = lambda cursor, sql, parameters: cursor.execute(sql, parameters)
if "pause" in OFF:
    sqlite_turns.SqliteTurns.pause = lambda self, *, held: None
if "idle" in OFF:
    sqlite_turns.SQLITE_IDLE_YIELD_FRACTION = sqlite_turns.SQLITE_YIELD_FRACTION
