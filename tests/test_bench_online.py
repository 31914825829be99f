"""The online benchmark's baseline and report (bench/online), not its run."""

from typing import Any

import pytest
from django.test import Client, override_settings

from bench.online import run
from bench.online.names import REPAY, REPAY_SHARED, TRIVIAL


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.online.urls")
def test_trivial_view_answers_through_the_middleware_without_a_query(
    client: Client, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = client.get("/bench/trivial")

    assert response.status_code == 200
    assert response.content == b"ok"
    # The same middleware as every page: the CSP header is set on it too.
    assert "Content-Security-Policy-Report-Only" in response.headers


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.online.urls")
def test_the_project_urls_stay_behind_the_baseline(client: Client) -> None:
    assert client.get("/api/v1/loans/").status_code == 401


def test_percentile_is_the_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]

    assert run.percentile(ordered, 0.50) == 50.0
    assert run.percentile(ordered, 0.95) == 95.0
    assert run.percentile(ordered, 0.99) == 99.0
    assert run.percentile([7.0], 0.95) == 7.0


def test_report_divides_repayment_p95_by_the_trivial_views() -> None:
    results = {
        "seconds": 10.0,
        "samples": {
            REPAY: [10.0] * 90 + [40.0] * 10,
            REPAY_SHARED: [20.0] * 10,
            TRIVIAL: [2.0] * 95 + [8.0] * 5,
        },
        "failures": {},
    }

    lines, ratio = run.table(results)

    # 110 first posts: the 95th percentile is the 105th, 40 ms; trivial 2 ms.
    assert ratio == 20.0
    assert any(line.startswith("POST repayment, all first posts") for line in lines)
    assert lines[-1].startswith("all requests")
