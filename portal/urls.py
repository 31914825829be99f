from django.urls import path

from portal import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.SignInView.as_view(), name="login"),
    path("sign-out/", views.SignOutView.as_view(), name="logout"),
    path("branch/", views.branch, name="branch"),
    path("loans/", views.loan_list, name="loans"),
    path("loans/apply/", views.loan_apply, name="loan_apply"),
    path("loans/<int:pk>/", views.loan_detail, name="loan"),
    path("loans/<int:pk>/repay/", views.loan_repay, name="loan_repay"),
    path(
        "loans/<int:pk>/repayments/<int:repayment_id>/",
        views.loan_repayment,
        name="loan_repayment",
    ),
    # collection.services.hardship_link reverses this name into SMS texts.
    path("loans/<int:pk>/hardship/", views.loan_hardship, name="loan_hardship"),
    path("messages/", views.message_list, name="messages"),
    path("messages/<int:message_id>/", views.message_detail, name="message"),
    path(
        "contact-preferences/",
        views.contact_preferences,
        name="contact_preferences",
    ),
    path(
        "contact-preferences/change/",
        views.contact_preferences_change,
        name="contact_preferences_change",
    ),
]
