"""gunicorn alone: a WSGI app that reads the POST and answers a fixed page, with no framework."""

PAGE = b"<!doctype html><title>Prediction</title><p>Cat (0.97)</p>"


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))])
    return [PAGE]
