"""The access matrix: every page and endpoint, as every role.

The tables below are the access policy, one row per URL name and one column
per role. Each cell is the answer that role gets when it opens the address
(GET) naming the borrower's own objects:

    200  allowed                       401  the API asks to sign in
    403  refused                       404  not found: not theirs, or no page
    405  read access to an address     in   redirected to a sign-in page
         that only takes POST (the     nf   the admin's answer for an object
         write tests cover the POST)        that does not exist: back to
    302  any other redirect                 its index, as for a missing id

Roles (columns): ano anonymous; bor the borrower; pee another borrower of
the same branch; ld1 the branch's leader; ld2 the leader of another branch;
col, fin the branch's collector and finance; aud the auditor; rsk a risk
officer. Auditors and risk officers see every branch.

A URL added to the project without a row here fails
`test_every_url_has_a_row`, so nothing reaches production unreviewed.
"""

import re
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from tests.security.routes import route_names, url_for
from tests.security.world import ROLES, World, build_world

pytestmark = pytest.mark.django_db

PAGES_AND_API = """
url name                                       ano bor pee ld1 ld2 col fin aud rsk
api-root                                       401 200 200 200 200 200 200 200 200
branch-detail                                  401 403 403 200 404 200 200 200 200
branch-list                                    401 403 403 200 200 200 200 200 200
collection-case-contacts                       401 403 403 403 403 405 403 405 405
collection-case-detail                         401 403 403 403 403 200 403 200 200
collection-case-list                           401 403 403 403 403 200 403 200 200
hardship-request-approve                       401 403 403 403 403 405 403 405 405
hardship-request-detail                        401 403 403 403 403 200 403 200 200
hardship-request-list                          401 403 403 403 403 200 403 200 200
hardship-request-refuse                        401 403 403 403 403 405 403 405 405
healthz                                        200 200 200 200 200 200 200 200 200
loan-approve                                   401 403 403 405 405 405 405 405 405
loan-cancel                                    401 403 403 405 405 405 405 405 405
loan-detail                                    401 403 403 200 404 200 200 200 200
loan-disburse                                  401 403 403 405 405 405 405 405 405
loan-hardship-requests                         401 403 403 405 405 405 405 405 405
loan-list                                      401 403 403 200 200 200 200 200 200
loan-reject                                    401 403 403 405 405 405 405 405 405
loan-repayments                                401 403 403 405 405 405 405 405 405
loan-write-off                                 401 403 403 405 405 405 405 405 405
loan-write-off-approve                         401 403 403 405 405 405 405 405 405
member-blacklist                               401 403 403 405 405 405 405 405 405
member-bureau-reports                          401 403 403 405 405 405 405 405 405
member-credit                                  401 403 403 200 404 200 200 200 200
member-detail                                  401 403 403 200 404 200 200 200 200
member-evaluate                                401 403 403 405 405 405 405 405 405
member-lift-blacklist                          401 403 403 405 405 405 405 405 405
member-list                                    401 403 403 200 200 200 200 200 200
member-reject-kyc                              401 403 403 405 405 405 405 405 405
member-verify                                  401 403 403 405 405 405 405 405 405
message-detail                                 401 403 403 403 403 200 403 200 200
message-list                                   401 403 403 403 403 200 403 200 200
pages:branch                                   in  200 200 404 404 404 404 404 404
pages:contact_preferences                      in  200 200 404 404 404 404 404 404
pages:contact_preferences_change               in  405 405 405 405 405 405 405 405
pages:home                                     in  200 200 200 200 200 200 200 200
pages:loan                                     in  200 404 404 404 404 404 404 404
pages:loan_apply                               in  200 200 404 404 404 404 404 404
pages:loan_hardship                            in  200 404 404 404 404 404 404 404
pages:loan_repay                               in  200 404 404 404 404 404 404 404
pages:loan_repayment                           in  200 404 404 404 404 404 404 404
pages:loans                                    in  200 200 404 404 404 404 404 404
pages:login                                    200 302 302 302 302 302 302 302 302
pages:logout                                   405 405 405 405 405 405 405 405 405
pages:message                                  in  200 404 404 404 404 404 404 404
pages:messages                                 in  200 200 404 404 404 404 404 404
product-detail                                 401 403 403 200 200 200 200 200 200
product-list                                   401 403 403 200 200 200 200 200 200
risk-alert-acknowledge                         401 403 403 405 405 403 403 405 405
risk-alert-detail                              401 403 403 200 404 403 403 200 200
risk-alert-list                                401 403 403 200 200 403 403 200 200
risk-alert-resolve                             401 403 403 405 405 403 403 405 405
risk-portfolio                                 401 403 403 403 403 403 403 200 200
risk:morning                                   in  403 403 403 403 403 403 200 200
risk:outcomes                                  in  403 403 403 403 403 403 200 200
risk:roll_rates                                in  403 403 403 403 403 403 200 200
risk:stress                                    in  403 403 403 403 403 403 200 200
risk:stress_run                                in  403 403 403 403 403 403 200 200
risk:vintages                                  in  403 403 403 403 403 403 200 200
schema                                         200 200 200 200 200 200 200 200 200
set_language                                   302 302 302 302 302 302 302 302 302
stress-test-detail                             401 403 403 403 403 403 403 200 200
stress-test-list                               401 403 403 403 403 403 403 200 200
swagger-ui                                     200 200 200 200 200 200 200 200 200
webhook-endpoint-detail                        401 403 403 403 403 403 403 200 403
webhook-endpoint-list                          401 403 403 403 403 403 403 200 403"""

# The admin, by URL name without its "admin:" prefix.
ADMIN = """
admin url name (admin:...)                     ano bor pee ld1 ld2 col fin aud rsk
app_list                                       in  in  in  200 200 200 200 200 200
auth_group_add                                 in  in  in  403 403 403 403 403 403
auth_group_change                              in  in  in  403 403 403 403 403 403
auth_group_changelist                          in  in  in  403 403 403 403 403 403
auth_group_delete                              in  in  in  403 403 403 403 403 403
auth_group_history                             in  in  in  403 403 403 403 403 403
auth_user_add                                  in  in  in  403 403 403 403 403 403
auth_user_change                               in  in  in  403 403 403 403 403 403
auth_user_changelist                           in  in  in  403 403 403 403 403 403
auth_user_delete                               in  in  in  403 403 403 403 403 403
auth_user_history                              in  in  in  403 403 403 403 403 403
auth_user_password_change                      in  in  in  403 403 403 403 403 403
authtoken_tokenproxy_add                       in  in  in  403 403 403 403 403 403
authtoken_tokenproxy_change                    in  in  in  403 403 403 403 403 403
authtoken_tokenproxy_changelist                in  in  in  403 403 403 403 403 403
authtoken_tokenproxy_delete                    in  in  in  403 403 403 403 403 403
authtoken_tokenproxy_history                   in  in  in  403 403 403 403 403 403
autocomplete                                   in  in  in  403 403 403 403 403 403
axes_accessattempt_add                         in  in  in  403 403 403 403 403 403
axes_accessattempt_change                      in  in  in  403 403 403 403 403 403
axes_accessattempt_changelist                  in  in  in  403 403 403 403 403 403
axes_accessattempt_delete                      in  in  in  403 403 403 403 403 403
axes_accessattempt_history                     in  in  in  403 403 403 403 403 403
axes_accessfailurelog_add                      in  in  in  403 403 403 403 403 403
axes_accessfailurelog_change                   in  in  in  403 403 403 403 403 403
axes_accessfailurelog_changelist               in  in  in  403 403 403 403 403 403
axes_accessfailurelog_delete                   in  in  in  403 403 403 403 403 403
axes_accessfailurelog_history                  in  in  in  403 403 403 403 403 403
axes_accesslog_add                             in  in  in  403 403 403 403 403 403
axes_accesslog_change                          in  in  in  403 403 403 403 403 403
axes_accesslog_changelist                      in  in  in  403 403 403 403 403 403
axes_accesslog_delete                          in  in  in  403 403 403 403 403 403
axes_accesslog_history                         in  in  in  403 403 403 403 403 403
collection_collectioncase_add                  in  in  in  403 403 403 403 403 403
collection_collectioncase_change               in  in  in  403 403 200 403 200 200
collection_collectioncase_changelist           in  in  in  403 403 200 403 200 200
collection_collectioncase_close                in  in  in  403 404 200 403 403 200
collection_collectioncase_contact              in  in  in  403 403 200 403 403 200
collection_collectioncase_delete               in  in  in  403 403 403 403 403 403
collection_collectioncase_history              in  in  in  403 nf  200 403 200 200
collection_contactconsent_add                  in  in  in  403 403 200 403 403 200
collection_contactconsent_change               in  in  in  403 403 200 403 200 200
collection_contactconsent_changelist           in  in  in  403 403 200 403 200 200
collection_contactconsent_delete               in  in  in  403 403 403 403 403 403
collection_contactconsent_history              in  in  in  403 nf  200 403 200 200
collection_escalationpolicy_add                in  in  in  403 403 403 403 403 403
collection_escalationpolicy_change             in  in  in  403 403 403 403 200 200
collection_escalationpolicy_changelist         in  in  in  403 403 403 403 200 200
collection_escalationpolicy_delete             in  in  in  403 403 403 403 403 403
collection_escalationpolicy_history            in  in  in  403 403 403 403 200 200
collection_hardshiprequest_add                 in  in  in  403 403 200 403 403 200
collection_hardshiprequest_change              in  in  in  403 403 200 403 200 200
collection_hardshiprequest_changelist          in  in  in  403 403 200 403 200 200
collection_hardshiprequest_delete              in  in  in  403 403 403 403 403 403
collection_hardshiprequest_history             in  in  in  403 nf  200 403 200 200
collection_legalreferral_add                   in  in  in  403 403 403 403 403 403
collection_legalreferral_change                in  in  in  403 403 200 403 200 200
collection_legalreferral_changelist            in  in  in  403 403 200 403 200 200
collection_legalreferral_delete                in  in  in  403 403 403 403 403 403
collection_legalreferral_history               in  in  in  403 nf  200 403 200 200
collection_mediation_add                       in  in  in  403 403 403 403 403 403
collection_mediation_change                    in  in  in  403 403 200 403 200 200
collection_mediation_changelist                in  in  in  403 403 200 403 200 200
collection_mediation_delete                    in  in  in  403 403 403 403 403 403
collection_mediation_history                   in  in  in  403 nf  200 403 200 200
collection_message_add                         in  in  in  403 403 403 403 403 403
collection_message_change                      in  in  in  403 403 200 403 200 200
collection_message_changelist                  in  in  in  403 403 200 403 200 200
collection_message_delete                      in  in  in  403 403 403 403 403 403
collection_message_history                     in  in  in  403 nf  200 403 200 200
collection_messagetemplate_add                 in  in  in  403 403 403 403 403 403
collection_messagetemplate_change              in  in  in  403 403 403 403 200 200
collection_messagetemplate_changelist          in  in  in  403 403 403 403 200 200
collection_messagetemplate_delete              in  in  in  403 403 403 403 403 403
collection_messagetemplate_history             in  in  in  403 403 403 403 200 200
credit_bureaureport_add                        in  in  in  403 403 403 403 403 403
credit_bureaureport_change                     in  in  in  403 403 403 403 200 200
credit_bureaureport_changelist                 in  in  in  403 403 403 403 200 200
credit_bureaureport_delete                     in  in  in  403 403 403 403 403 403
credit_bureaureport_history                    in  in  in  403 nf  403 403 200 200
credit_creditflag_add                          in  in  in  403 403 403 403 403 403
credit_creditflag_change                       in  in  in  200 nf  403 403 200 200
credit_creditflag_changelist                   in  in  in  200 200 403 403 200 200
credit_creditflag_delete                       in  in  in  403 403 403 403 403 403
credit_creditflag_history                      in  in  in  200 nf  403 403 200 200
credit_creditprofile_add                       in  in  in  403 403 403 403 403 403
credit_creditprofile_change                    in  in  in  200 nf  200 200 200 200
credit_creditprofile_changelist                in  in  in  200 200 200 200 200 200
credit_creditprofile_delete                    in  in  in  403 403 403 403 403 403
credit_creditprofile_history                   in  in  in  200 nf  200 200 200 200
credit_creditscore_add                         in  in  in  403 403 403 403 403 403
credit_creditscore_change                      in  in  in  200 nf  403 403 200 200
credit_creditscore_changelist                  in  in  in  200 200 403 403 200 200
credit_creditscore_delete                      in  in  in  403 403 403 403 403 403
credit_creditscore_history                     in  in  in  200 nf  403 403 200 200
credit_limitchange_add                         in  in  in  403 403 403 403 403 403
credit_limitchange_change                      in  in  in  200 nf  403 200 200 200
credit_limitchange_changelist                  in  in  in  200 200 403 200 200 200
credit_limitchange_delete                      in  in  in  403 403 403 403 403 403
credit_limitchange_history                     in  in  in  200 nf  403 200 200 200
credit_repaymentevent_add                      in  in  in  403 403 403 403 403 403
credit_repaymentevent_change                   in  in  in  403 403 403 403 200 200
credit_repaymentevent_changelist               in  in  in  403 403 403 403 200 200
credit_repaymentevent_delete                   in  in  in  403 403 403 403 403 403
credit_repaymentevent_history                  in  in  in  403 nf  403 403 200 200
credit_scoringpolicy_add                       in  in  in  403 403 403 403 403 200
credit_scoringpolicy_change                    in  in  in  403 403 403 403 200 200
credit_scoringpolicy_changelist                in  in  in  403 403 403 403 200 200
credit_scoringpolicy_compare                   in  in  in  403 403 403 403 302 302
credit_scoringpolicy_delete                    in  in  in  403 403 403 403 403 403
credit_scoringpolicy_history                   in  in  in  403 403 403 403 200 200
django_celery_beat_clockedschedule_add         in  in  in  403 403 403 403 403 403
django_celery_beat_clockedschedule_change      in  in  in  403 403 403 403 403 403
django_celery_beat_clockedschedule_changelist  in  in  in  403 403 403 403 403 403
django_celery_beat_clockedschedule_delete      in  in  in  403 403 403 403 403 403
django_celery_beat_clockedschedule_history     in  in  in  403 403 403 403 403 403
django_celery_beat_crontabschedule_add         in  in  in  403 403 403 403 403 403
django_celery_beat_crontabschedule_change      in  in  in  403 403 403 403 403 200
django_celery_beat_crontabschedule_changelist  in  in  in  403 403 403 403 403 200
django_celery_beat_crontabschedule_delete      in  in  in  403 403 403 403 403 403
django_celery_beat_crontabschedule_history     in  in  in  403 403 403 403 403 200
django_celery_beat_intervalschedule_add        in  in  in  403 403 403 403 403 403
django_celery_beat_intervalschedule_change     in  in  in  403 403 403 403 403 403
django_celery_beat_intervalschedule_changelist in  in  in  403 403 403 403 403 403
django_celery_beat_intervalschedule_delete     in  in  in  403 403 403 403 403 403
django_celery_beat_intervalschedule_history    in  in  in  403 403 403 403 403 403
django_celery_beat_periodictask_add            in  in  in  403 403 403 403 403 403
django_celery_beat_periodictask_change         in  in  in  403 403 403 403 403 200
django_celery_beat_periodictask_changelist     in  in  in  403 403 403 403 403 200
django_celery_beat_periodictask_delete         in  in  in  403 403 403 403 403 403
django_celery_beat_periodictask_history        in  in  in  403 403 403 403 403 200
django_celery_beat_solarschedule_add           in  in  in  403 403 403 403 403 403
django_celery_beat_solarschedule_change        in  in  in  403 403 403 403 403 403
django_celery_beat_solarschedule_changelist    in  in  in  403 403 403 403 403 403
django_celery_beat_solarschedule_delete        in  in  in  403 403 403 403 403 403
django_celery_beat_solarschedule_history       in  in  in  403 403 403 403 403 403
index                                          in  in  in  200 200 200 200 200 200
integrations_delivery_add                      in  in  in  403 403 403 403 403 403
integrations_delivery_change                   in  in  in  403 403 403 403 200 403
integrations_delivery_changelist               in  in  in  403 403 403 403 200 403
integrations_delivery_delete                   in  in  in  403 403 403 403 403 403
integrations_delivery_history                  in  in  in  403 403 403 403 200 403
integrations_endpoint_add                      in  in  in  403 403 403 403 403 403
integrations_endpoint_change                   in  in  in  403 403 403 403 200 403
integrations_endpoint_changelist               in  in  in  403 403 403 403 200 403
integrations_endpoint_delete                   in  in  in  403 403 403 403 403 403
integrations_endpoint_history                  in  in  in  403 403 403 403 200 403
loans_businessday_add                          in  in  in  403 403 403 403 403 403
loans_businessday_change                       in  in  in  403 403 403 200 200 200
loans_businessday_changelist                   in  in  in  403 403 403 200 200 200
loans_businessday_delete                       in  in  in  403 403 403 403 403 403
loans_businessday_history                      in  in  in  403 403 403 200 200 200
loans_installment_add                          in  in  in  403 403 403 403 403 403
loans_installment_change                       in  in  in  200 nf  200 200 200 200
loans_installment_changelist                   in  in  in  200 200 200 200 200 200
loans_installment_delete                       in  in  in  403 403 403 403 403 403
loans_installment_history                      in  in  in  200 nf  200 200 200 200
loans_journalentry_add                         in  in  in  403 403 403 403 403 403
loans_journalentry_change                      in  in  in  403 403 403 200 200 200
loans_journalentry_changelist                  in  in  in  403 403 403 200 200 200
loans_journalentry_delete                      in  in  in  403 403 403 403 403 403
loans_journalentry_history                     in  in  in  403 nf  403 200 200 200
loans_loan_add                                 in  in  in  200 200 403 403 403 200
loans_loan_change                              in  in  in  200 nf  200 200 200 200
loans_loan_changelist                          in  in  in  200 200 200 200 200 200
loans_loan_delete                              in  in  in  403 403 403 403 403 403
loans_loan_history                             in  in  in  200 nf  200 200 200 200
loans_loan_transition                          in  in  in  302 404 403 403 403 302
loans_product_add                              in  in  in  403 403 403 403 403 200
loans_product_change                           in  in  in  200 200 200 200 200 200
loans_product_changelist                       in  in  in  200 200 200 200 200 200
loans_product_delete                           in  in  in  403 403 403 403 403 403
loans_product_history                          in  in  in  200 200 200 200 200 200
loans_repayment_add                            in  in  in  403 403 403 403 403 403
loans_repayment_change                         in  in  in  200 nf  200 200 200 200
loans_repayment_changelist                     in  in  in  200 200 200 200 200 200
loans_repayment_delete                         in  in  in  403 403 403 403 403 403
loans_repayment_history                        in  in  in  200 nf  200 200 200 200
loans_writeoffrequest_add                      in  in  in  403 403 403 403 403 403
loans_writeoffrequest_change                   in  in  in  403 403 403 200 200 200
loans_writeoffrequest_changelist               in  in  in  403 403 403 200 200 200
loans_writeoffrequest_delete                   in  in  in  403 403 403 403 403 403
loans_writeoffrequest_history                  in  in  in  403 nf  403 200 200 200
jsi18n                                         in  in  in  200 200 200 200 200 200
login                                          200 200 200 302 302 302 302 302 302
logout                                         302 302 302 405 405 405 405 405 405
members_blacklistentry_add                     in  in  in  403 403 403 403 403 403
members_blacklistentry_change                  in  in  in  200 nf  403 200 200 200
members_blacklistentry_changelist              in  in  in  200 200 403 200 200 200
members_blacklistentry_delete                  in  in  in  403 403 403 403 403 403
members_blacklistentry_history                 in  in  in  200 nf  403 200 200 200
members_blacklistrule_add                      in  in  in  403 403 403 403 403 403
members_blacklistrule_change                   in  in  in  403 403 403 403 200 200
members_blacklistrule_changelist               in  in  in  403 403 403 403 200 200
members_blacklistrule_delete                   in  in  in  403 403 403 403 403 403
members_blacklistrule_history                  in  in  in  403 403 403 403 200 200
members_branch_add                             in  in  in  403 403 403 403 403 200
members_branch_change                          in  in  in  200 nf  200 200 200 200
members_branch_changelist                      in  in  in  200 200 200 200 200 200
members_branch_delete                          in  in  in  403 403 403 403 403 403
members_branch_history                         in  in  in  200 nf  200 200 200 200
members_emergencycontact_add                   in  in  in  200 200 403 403 403 200
members_emergencycontact_change                in  in  in  200 nf  200 403 200 200
members_emergencycontact_changelist            in  in  in  200 200 200 403 200 200
members_emergencycontact_delete                in  in  in  403 403 403 403 403 403
members_emergencycontact_history               in  in  in  200 nf  200 403 200 200
members_guarantortie_add                       in  in  in  200 200 403 403 403 200
members_guarantortie_change                    in  in  in  200 nf  200 200 200 200
members_guarantortie_changelist                in  in  in  200 200 200 200 200 200
members_guarantortie_delete                    in  in  in  403 403 403 403 403 403
members_guarantortie_history                   in  in  in  200 nf  200 200 200 200
members_member_add                             in  in  in  200 200 403 403 403 200
members_member_change                          in  in  in  200 nf  200 200 200 200
members_member_changelist                      in  in  in  200 200 200 200 200 200
members_member_delete                          in  in  in  403 403 403 403 403 403
members_member_history                         in  in  in  200 nf  200 200 200 200
members_member_transition                      in  in  in  302 404 403 403 403 302
password_change                                in  in  in  200 200 200 200 200 200
password_change_done                           in  in  in  200 200 200 200 200 200
risk_alert_add                                 in  in  in  403 403 403 403 403 403
risk_alert_change                              in  in  in  200 nf  403 403 200 200
risk_alert_changelist                          in  in  in  200 200 403 403 200 200
risk_alert_delete                              in  in  in  403 403 403 403 403 403
risk_alert_history                             in  in  in  200 nf  403 403 200 200
risk_snapshot_add                              in  in  in  403 403 403 403 403 403
risk_snapshot_change                           in  in  in  403 403 403 403 200 200
risk_snapshot_changelist                       in  in  in  403 403 403 403 200 200
risk_snapshot_delete                           in  in  in  403 403 403 403 403 403
risk_snapshot_history                          in  in  in  nf  nf  nf  nf  200 200
risk_stressrun_add                             in  in  in  403 403 403 403 403 403
risk_stressrun_change                          in  in  in  403 403 403 403 200 200
risk_stressrun_changelist                      in  in  in  403 403 403 403 200 200
risk_stressrun_delete                          in  in  in  403 403 403 403 403 403
risk_stressrun_history                         in  in  in  403 403 403 403 200 200
risk_stressscenario_add                        in  in  in  403 403 403 403 403 200
risk_stressscenario_change                     in  in  in  403 403 403 403 200 200
risk_stressscenario_changelist                 in  in  in  403 403 403 403 200 200
risk_stressscenario_delete                     in  in  in  403 403 403 403 403 403
risk_stressscenario_history                    in  in  in  403 403 403 403 200 200
risk_tier_add                                  in  in  in  403 403 403 403 403 403
risk_tier_change                               in  in  in  403 403 403 403 200 200
risk_tier_changelist                           in  in  in  403 403 403 403 200 200
risk_tier_delete                               in  in  in  403 403 403 403 403 403
risk_tier_history                              in  in  in  403 403 403 403 200 200
risk_warningrule_add                           in  in  in  403 403 403 403 403 403
risk_warningrule_change                        in  in  in  403 403 403 403 200 200
risk_warningrule_changelist                    in  in  in  403 403 403 403 200 200
risk_warningrule_delete                        in  in  in  403 403 403 403 403 403
risk_warningrule_history                       in  in  in  403 403 403 403 200 200
view_on_site                                   in  in  in  404 404 404 404 404 404"""


def _table(text: str, prefix: str = "") -> dict[str, list[str]]:
    rows = text.strip().splitlines()[1:]
    return {prefix + row.split()[0]: row.split()[1:] for row in rows}


EXPECTED = {**_table(PAGES_AND_API), **_table(ADMIN, prefix="admin:")}


def answer(response: Any, url: str) -> str:
    """A response to `url` as the tables write it."""
    if response.status_code != 302:
        return str(response.status_code)
    location = response["Location"]
    if "/sign-in/" in location or "/admin/login/" in location:
        return "in"
    if location == "/admin/" and re.search(r"/\d+/", url):
        return "nf"
    return "302"


def client_for(user: User | AnonymousUser) -> Client:
    client = Client()
    if user.is_authenticated:
        client.force_login(user)
    return client


@pytest.fixture
def world() -> World:
    return build_world()


def test_every_url_has_a_row() -> None:
    names = set(route_names())

    assert sorted(names - set(EXPECTED)) == [], "URLs without a row in the matrix"
    assert sorted(set(EXPECTED) - names) == [], "rows for URLs that no longer exist"
    assert all(len(cells) == len(ROLES) for cells in EXPECTED.values())


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_the_access_of_the_matrix(
    role: str, world: World
) -> None:
    client = client_for(world.users[role])
    column = ROLES.index(role)
    wrong = {}

    for name in route_names():
        url = url_for(name, world)
        got = answer(client.get(url), url)
        if got != EXPECTED[name][column]:
            wrong[name] = f"expected {EXPECTED[name][column]}, got {got}"

    assert wrong == {}


def test_the_admin_answers_another_branchs_object_as_one_that_does_not_exist(
    world: World,
) -> None:
    client = client_for(world.users["leader2"])
    missing = "/admin/loans/loan/999999/change/"
    elsewhere = url_for("admin:loans_loan_change", world)

    assert answer(client.get(missing), missing) == "nf"
    assert answer(client.get(elsewhere), elsewhere) == "nf"
