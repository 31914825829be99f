"""The shipped escalation ladder and message templates (risk staff edit them
in the admin afterwards)."""

from django.db import migrations

STEPS = [
    # stage, counted from, day, message, open case, call, leader, mediation,
    # legal, guarantors
    ("reminder", "due_date", -3, "reminder_ahead", False, False, False, False, False, False),
    ("reminder", "due_date", 0, "reminder_due", False, False, False, False, False, False),
    ("grace", "due_date", 1, "grace", False, False, False, False, False, False),
    ("early", "grace_end", 1, "early", True, True, False, False, False, False),
    ("mid", "due_date", 15, "mid", True, True, True, True, False, False),
    ("late", "due_date", 31, "late", True, False, False, False, True, False),
    ("blacklisted", "blacklist", 1, "", True, False, False, False, True, True),
]

TEMPLATES = {
    "reminder_ahead": (
        "${name}您好，您的借款${loan}将于${due_date}到期，应还${amount_due}。"
        "请按时还款，如有困难请致电${hotline}。",
        "Hello ${name}, loan ${loan} is due on ${due_date}: ${amount_due}. "
        "Please repay on time; if that is hard, call ${hotline}.",
    ),
    "reminder_due": (
        "${name}您好，您的借款${loan}今天（${due_date}）到期，应还${amount_due}。",
        "Hello ${name}, loan ${loan} is due today (${due_date}): ${amount_due}.",
    ),
    "grace": (
        "${name}您好，您的借款${loan}已过还款日，欠款${overdue_amount}。"
        "宽限期还剩${grace_days_left}天，宽限期内还款不收罚息。",
        "Hello ${name}, loan ${loan} is past its due date with ${overdue_amount} "
        "unpaid. ${grace_days_left} grace days are left; repaying within them "
        "costs no penalty.",
    ),
    "early": (
        "${name}您好，您的借款${loan}已逾期${days_past_due}天，欠款${overdue_amount}，"
        "正在计收罚息。如遇困难，可申请还款计划：${hardship_link}",
        "Hello ${name}, loan ${loan} is ${days_past_due} days overdue with "
        "${overdue_amount} unpaid, and penalty is accruing. If you are in "
        "difficulty, ask for a repayment plan: ${hardship_link}",
    ),
    "mid": (
        "${name}您好，您的借款${loan}已逾期${days_past_due}天，欠款${overdue_amount}。"
        "我们愿意安排调解，帮助您找到还款办法，请致电${hotline}。",
        "Hello ${name}, loan ${loan} is ${days_past_due} days overdue with "
        "${overdue_amount} unpaid. We offer mediation to find a way to repay; "
        "call ${hotline}.",
    ),
    "late": (
        "${name}您好：正式通知，您的借款${loan}已逾期${days_past_due}天，"
        "欠款${overdue_amount}。如仍未还款或联系我们，本平台将依法通过法院主张权利。"
        "咨询电话${hotline}。",
        "Hello ${name}: formal notice that loan ${loan} is ${days_past_due} days "
        "overdue with ${overdue_amount} unpaid. Without payment or contact, the "
        "platform will pursue its claim through the court as the law provides. "
        "Call ${hotline}.",
    ),
    "leader": (
        "您好，${branch}的${name}近期与我们失去联系，请您方便时转告其致电${hotline}。",
        "Hello, we have lost touch with ${name} of ${branch}. When convenient, "
        "please ask them to call ${hotline}.",
    ),
    "guarantor": (
        "您好，您为${branch}的${name}提供了担保，请您提醒其尽快致电${hotline}。",
        "Hello, you act as guarantor for ${name} of ${branch}. Please remind them "
        "to call ${hotline} soon.",
    ),
    "contact_restore": (
        "您好，${name}将您登记为紧急联系人，请转告其致电${hotline}。",
        "Hello, ${name} named you as an emergency contact. Please ask them to "
        "call ${hotline}.",
    ),
    "hardship_decision": (
        "${name}您好，您为借款${loan}申请的还款计划已${decision}。详情请查看借款页面，"
        "或致电${hotline}。",
        "Hello ${name}, your repayment plan request for loan ${loan} was "
        "${decision}. See the loan's page or call ${hotline}.",
    ),
}


def ship(apps, schema_editor):
    Policy = apps.get_model("collection", "EscalationPolicy")
    Step = apps.get_model("collection", "LadderStep")
    Template = apps.get_model("collection", "MessageTemplate")
    policy, _created = Policy.objects.get_or_create(pk=1)
    for stage, anchor, day, message, case, call, leader, mediation, legal, guarantors in STEPS:
        Step.objects.get_or_create(
            policy=policy,
            anchor=anchor,
            day=day,
            defaults={
                "stage": stage,
                "message": message,
                "open_case": case,
                "call_task": call,
                "tell_leader": leader,
                "offer_mediation": mediation,
                "prepare_legal": legal,
                "tell_guarantors": guarantors,
            },
        )
    for purpose, (chinese, english) in TEMPLATES.items():
        for language, body in (("zh-hans", chinese), ("en", english)):
            Template.objects.get_or_create(
                purpose=purpose, language=language, defaults={"body": body}
            )


class Migration(migrations.Migration):
    dependencies = [("collection", "0001_initial")]

    operations = [migrations.RunPython(ship, migrations.RunPython.noop)]
