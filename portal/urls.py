from django.urls import path

from portal import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.SignInView.as_view(), name="login"),
    path("sign-out/", views.SignOutView.as_view(), name="logout"),
    path("loans/", views.loan_list, name="loans"),
    path("loans/apply/", views.loan_apply, name="loan_apply"),
    path("loans/<int:pk>/", views.loan_detail, name="loan"),
    path("loans/<int:pk>/repay/", views.loan_repay, name="loan_repay"),
    path(
        "loans/<int:pk>/repayments/<int:repayment_id>/",
        views.loan_repayment,
        name="loan_repayment",
    ),
]
