#!/usr/bin/env python3
"""Start authlayer's test Django backend in one process: migrate the SQLite
database, create the users, listen, and serve with Django's own threaded
development server (what `manage.py runserver --noreload` runs).

Environment (besides the settings' own, in djangoapp/settings.py):

DJANGOAPP_HOST         address to listen on (default 127.0.0.1)
DJANGOAPP_PORT         port (default 0: a free one, see the ready file)
DJANGOAPP_USERS        users to create (djangoapp/users.py)
DJANGOAPP_READY_FILE   once listening, this file gets {"url": ..., "pid": ...}
                       (written to a temporary name, then renamed)
DJANGOAPP_STDIN_EXIT   1: exit when stdin reaches end of file (the parent
                       holds the pipe: its death stops the server)

Exit status 3: a Python package is missing (the message says which).

Run by hand (Debian's packages need /usr/bin/python3):
    DJANGOAPP_DB=/tmp/dj.sqlite3 DJANGOAPP_PORT=8000 \
    DJANGOAPP_USERS=alice:pw:admin,bob:pw: /usr/bin/python3 serve.py
"""

import json
import os
import socketserver
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    started = time.monotonic()
    sys.path.insert(0, HERE)
    os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"
    try:
        import django  # noqa: F401
        import rest_framework  # noqa: F401
        import rest_framework_simplejwt  # noqa: F401
    except ImportError as e:
        print(
            "djangoapp: missing Python package %r: install Debian's python3-django, "
            "python3-djangorestframework and python3-djangorestframework-simplejwt "
            "and run /usr/bin/python3" % e.name,
            file=sys.stderr,
            flush=True,
        )
        sys.exit(3)
    if os.environ.get("DJANGOAPP_STDIN_EXIT") == "1":
        threading.Thread(target=_exit_at_stdin_eof, daemon=True).start()

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.monotonic()

    from djangoapp import users

    users.create(os.environ.get("DJANGOAPP_USERS", ""))

    from django.core.servers.basehttp import (
        WSGIRequestHandler,
        WSGIServer,
        get_internal_wsgi_application,
    )

    class ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    host = os.environ.get("DJANGOAPP_HOST", "127.0.0.1")
    port = int(os.environ.get("DJANGOAPP_PORT", "0"))
    httpd = ThreadedServer((host, port), WSGIRequestHandler, ipv6=":" in host)
    httpd.set_app(get_internal_wsgi_application())
    port = httpd.server_address[1]
    url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)

    print(
        "djangoapp: listening on %s (django %s, migrate %.2fs, ready %.2fs after start)"
        % (url, django.get_version(), migrated - started, time.monotonic() - started),
        file=sys.stderr,
        flush=True,
    )
    ready = os.environ.get("DJANGOAPP_READY_FILE")
    if ready:
        tmp = ready + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"url": url, "pid": os.getpid()}, f)
        os.replace(tmp, ready)
    httpd.serve_forever()


def _exit_at_stdin_eof():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
