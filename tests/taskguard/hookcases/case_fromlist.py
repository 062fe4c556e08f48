# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""`from X import Y` checks X.Y as a possible submodule or member."""

import sys

from _support import POLICY, blocked, done, import_blocked, write

from taskguard import install

write(
    {
        "app/api/routers/froms.py": """
            def cloud():
                from fakecloud import tasks

            def member():
                from concurrent.futures import ProcessPoolExecutor

            def thread_pool():
                from concurrent.futures import ThreadPoolExecutor
                return ThreadPoolExecutor

            def google():
                from google.cloud import tasks_v2

            def star():
                exec("from fakehttp import *")

            def urllib_request():
                from urllib import request

            def urllib_parse():
                from urllib import parse
                return parse
        """,
        "app/services/free.py": "from fakecloud import tasks\n",
    }
)
guard = install(POLICY)
from app.api.routers import froms

err = blocked(froms.cloud)
assert (err.code, err.imported) == ("TG001", "fakecloud.tasks")
err = blocked(froms.member)
assert (err.code, err.imported) == ("TG002", "concurrent.futures.ProcessPoolExecutor")
assert froms.thread_pool().__name__ == "ThreadPoolExecutor"
err = blocked(froms.google)
assert (err.code, err.imported) == ("TG001", "google.cloud.tasks_v2")
assert "google.cloud.tasks_v2" not in sys.modules  # blocked before anything was imported
assert blocked(froms.star).imported == "fakehttp"
assert blocked(froms.urllib_request).imported == "urllib.request"
assert froms.urllib_parse().__name__ == "urllib.parse"

# TG001 applies to every first-party module that is not sanctioned
err = import_blocked("app.services.free")
assert (err.code, err.importer) == ("TG001", "app.services.free")
import app.infrastructure.tasks_client as client

assert client.CLIENT == "fakecloud.tasks"
done()
