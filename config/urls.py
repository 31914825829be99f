from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from collection.api import (
    CollectionCaseViewSet,
    CollectionLoanViewSet,
    HardshipRequestViewSet,
    MessageViewSet,
)
from config.health import healthz
from credit.api import CreditMemberViewSet
from integrations.api import EndpointViewSet
from loans.api import ProductViewSet
from members.api import BranchViewSet
from risk.api import AlertViewSet, PortfolioView, StressRunViewSet

router = DefaultRouter()
router.register("branches", BranchViewSet, basename="branch")
# Credit extends the member resource: verifying scores, blacklisting zeroes.
router.register("members", CreditMemberViewSet, basename="member")
router.register("products", ProductViewSet, basename="product")
# Collection extends the loan resource: a loan asks for a hardship plan.
router.register("loans", CollectionLoanViewSet, basename="loan")
router.register("collection-cases", CollectionCaseViewSet, basename="collection-case")
router.register("messages", MessageViewSet, basename="message")
router.register(
    "hardship-requests", HardshipRequestViewSet, basename="hardship-request"
)
router.register("risk/stress-tests", StressRunViewSet, basename="stress-test")
router.register("risk/alerts", AlertViewSet, basename="risk-alert")
router.register("webhook-endpoints", EndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/risk/portfolio/", PortfolioView.as_view(), name="risk-portfolio"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema"),
        name="swagger-ui",
    ),
    path("risk/", include("risk.urls")),
    path("", include("portal.urls")),
]

# Paths under /api/ that match nothing answer in the API's JSON shape.
handler404 = "config.api.not_found"
