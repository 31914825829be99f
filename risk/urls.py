from django.urls import path

from risk import views

app_name = "risk"

urlpatterns = [
    path("", views.morning, name="morning"),
    path("roll-rates/", views.roll_rate_view, name="roll_rates"),
    path("vintages/", views.vintage_view, name="vintages"),
    path("outcomes/", views.outcome_view, name="outcomes"),
    path("stress/", views.stress_list, name="stress"),
    path("stress/<int:pk>/", views.stress_detail, name="stress_run"),
]
