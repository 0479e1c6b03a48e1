"""Test-only: counts requests per path.

GET  /_test/counts        {"/api/token/refresh/": 3, ...}  (every path but /_test/*)
POST /_test/reset-counts  {} and the counts start again from zero

A request is counted when it arrives, before the view runs, so a client
that has its answer sees it counted.
"""

import json
import threading

from django.http import HttpResponse, JsonResponse

_lock = threading.Lock()
_counts = {}


class CountingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith("/_test/"):
            return self.test_endpoint(request, path)
        with _lock:
            _counts[path] = _counts.get(path, 0) + 1
        return self.get_response(request)

    @staticmethod
    def test_endpoint(request, path):
        if path == "/_test/counts" and request.method == "GET":
            with _lock:
                snapshot = dict(_counts)
            return JsonResponse(snapshot)
        if path == "/_test/reset-counts" and request.method == "POST":
            with _lock:
                _counts.clear()
            return JsonResponse({})
        return HttpResponse(
            json.dumps({"detail": "unknown test endpoint"}),
            status=404,
            content_type="application/json",
        )
