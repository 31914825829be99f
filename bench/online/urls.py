"""The project's URLs, with the benchmark's baseline in front of them.

`/bench/trivial` answers a few bytes through the same middleware as every
other page and touches neither the database nor the session store: what
any request costs before the application does anything.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler404
from config.urls import urlpatterns as project_urlpatterns


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/trivial", trivial), *project_urlpatterns]

__all__ = ["handler404", "urlpatterns"]
