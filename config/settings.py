"""Settings, read from the environment or an optional `.env` file.

Two modes. `production` (the default) refuses to start without real secrets.
`development` supplies throwaway values so the demo and the tests run on a
fresh machine with nothing set. Every variable is documented in
`.env.example`.
"""

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

# Lets admin and form classes take type parameters at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

MODE = env.str("DJANGO_MODE", default="production")
if MODE not in ("production", "development"):
    raise ImproperlyConfigured(
        f"DJANGO_MODE must be 'production' or 'development', not {MODE!r}."
    )
DEVELOPMENT = MODE == "development"


def _required(name: str, throwaway: str) -> str:
    """A secret that production must be given and development may invent."""
    value: str = env.str(name, default="")
    if value:
        return value
    if DEVELOPMENT:
        return throwaway
    raise ImproperlyConfigured(f"{name} must be set in production.")


SECRET_KEY = _required("SECRET_KEY", "development-only-secret-key-" + "x" * 40)
DEBUG = env.bool("DEBUG", default=DEVELOPMENT)

if DEVELOPMENT:
    ALLOWED_HOSTS = env.list(
        "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"]
    )
else:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production.")

# Personal data (national ID, phone) is stored encrypted with Fernet keys and
# found again through a keyed hash. The first key encrypts; every key decrypts,
# so a new key can be put in front and old rows still read.
PII_ENCRYPTION_KEYS = env.list("PII_ENCRYPTION_KEYS", default=[])
if not PII_ENCRYPTION_KEYS:
    PII_ENCRYPTION_KEYS = [
        _required("PII_ENCRYPTION_KEYS", "ZGV2ZWxvcG1lbnQtb25seS1rZXktbm90LXNlY3JldCE=")
    ]
PII_HASH_KEY = _required("PII_HASH_KEY", "development-only-hash-key")

INSTALLED_APPS = [
    "config.admin_site.AuditedAdminConfig",  # django.contrib.admin, actions logged
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "django_celery_beat",
    "axes",
    "config",
    "members",
    "credit",
    "loans",
    "collection",
    "risk",
    "portal",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'lending.sqlite3'}"
    )
}
# Connections kept between requests for this many seconds (0: one per
# request), checked before reuse. Kept, a repayment's median at twelve users
# fell from 277 ms to 76 ms in the online benchmark (docs/performance.md).
# DATABASE_URL's own conn_max_age, when given, wins.
DATABASES["default"].setdefault(
    "CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0 if DEVELOPMENT else 60)
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses every sign-in while its name is locked out.
    "config.lockout.SignInThrottle",
    "members.auth.PhoneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": (
            "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
        )
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): five failures for one name, from any
# address, or from one address, over any names (password spraying), lock it
# for fifteen minutes; a success forgets the name's failures. The name
# recorded is the keyed hash for a phone number (config.lockout). Behind the
# proxy the client's address is the last one it adds to X-Forwarded-For.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
if not DEVELOPMENT:
    AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=1)
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "config.lockout.attempt_username"
AXES_LOCKOUT_TEMPLATE = "pages/locked_out.html"
LOGIN_URL = "pages:login"
LOGIN_REDIRECT_URL = "pages:home"
LOGOUT_REDIRECT_URL = "pages:login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = DEVELOPMENT
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEVELOPMENT
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security headers. In production everything goes over HTTPS behind a proxy
# that sets X-Forwarded-Proto.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp): only this origin's scripts, and inline
# ones only with the response's nonce. Inline styles are allowed: the risk
# heatmaps shade each cell with a style attribute, and the admin's change
# lists and the API docs page carry small <style> blocks; styles cannot run
# code. Development only reports, so Django's debug pages keep working.
_CSP = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if DEVELOPMENT:
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP
if not DEVELOPMENT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe the health endpoint over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Group lending risk platform API",
    "DESCRIPTION": (
        "Branches, members and, as the product grows, credit, loans and "
        "collections. Authenticate with `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Sets shown by several components (list and detail, in and out) get
    # one name each: loan states, case statuses, contact channels.
    "ENUM_NAME_OVERRIDES": {
        "LoanStateEnum": "loans.models.Loan.State",
        "CaseStatusEnum": "collection.models.CollectionCase.Status",
        "ContactChannelEnum": "collection.models.Contact.Channel",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema_document_errors",
    ],
}

# Celery: with no broker configured, tasks run in-process (the demo and plain
# `make test`); with one, they go through it.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_BROKER_CONFIGURED = not CELERY_TASK_ALWAYS_EAGER
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Queues. The close runs for minutes to hours; reminders and webhooks must not
# wait behind it, so each has a queue of its own and `Procfile` gives the close
# its own worker. Everything else (scoring batches) uses the default queue.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "loans.tasks.loans_close_business_day": {"queue": "close"},
    "collection.tasks.*": {"queue": "messages"},
    "integrations.tasks.*": {"queue": "messages"},
}
# A worker process takes one task at a time: a long close or scoring batch
# never holds back tasks that another process could start.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Acknowledge after running, so a task whose worker died runs again, only
# where a second run does no harm: the close resumes at its unfinished step
# and message and webhook dispatch claim each row once. Scoring is left
# acknowledged on receipt because a repeated batch stores a second score.
CLOSE_TIME_LIMIT = 5 * 60 * 60
CELERY_TASK_ANNOTATIONS = {
    "loans.tasks.loans_close_business_day": {
        "acks_late": True,
        "soft_time_limit": CLOSE_TIME_LIMIT,
        "time_limit": CLOSE_TIME_LIMIT + 10 * 60,
    },
    "collection.tasks.messages_dispatch": {"acks_late": True},
    "collection.tasks.message_send": {"acks_late": True},
    "integrations.tasks.webhooks_dispatch": {"acks_late": True},
}
# Redis hands an unacknowledged task to another worker after this long. It is
# above the close's hard time limit, so a close still running is never started
# a second time, and above any countdown or eta (none is used today; webhook
# retries wait in the database, not in the broker).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CLOSE_TIME_LIMIT + 60 * 60}
# Beat reads its schedule from the database (django-celery-beat), so staff can
# see it, pause an entry and add one in the admin. CELERY_BEAT_SCHEDULE below
# stays the source of the shipped entries: the scheduler writes it into its
# tables each time beat starts (timings reset to these; a paused entry stays
# paused).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "loans-close-business-day": {
        "task": "loans.tasks.loans_close_business_day",
        "schedule": crontab(hour=23, minute=50),
    },
    "collection-messages-dispatch": {
        "task": "collection.tasks.messages_dispatch",
        "schedule": crontab(minute="*"),
    },
    "credit-rescore-stale": {
        "task": "credit.tasks.credit_rescore_stale",
        "schedule": crontab(hour=2, minute=30),
    },
    "integrations-webhooks-dispatch": {
        "task": "integrations.tasks.webhooks_dispatch",
        "schedule": crontab(minute="*"),
    },
}

# The daily close: steps run in this order for each business date.
CLOSE_STEPS = [
    "loans.cob.interest_due",
    "loans.cob.age",
    "loans.cob.penalty",
    "loans.cob.report_to_credit",
    "collection.cob.cases",
    "collection.cob.ladder",
    "risk.cob.snapshot",
    "risk.cob.early_warnings",
]

# Run inside every repayment's transaction, by the loans service, so a
# higher app reacts without the loans app importing it: each is called with
# the loan, the business date `on` and `was`, the loan's state before.
REPAYMENT_FOLLOWERS = ["collection.services.case_resolve_if_cured"]

# Told of every business event (members.events), inside its transaction:
# integrations records a webhook delivery per subscribed endpoint.
EVENT_FOLLOWERS = ["integrations.services.events_record"]
# Webhooks: seconds a partner has to answer, tries before giving up, the wait
# before the first retry (doubling after each), and whether plain http://
# URLs are accepted (development only: secrets and data must not travel
# unencrypted).
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_FIRST_RETRY = timedelta(minutes=1)
WEBHOOKS_ALLOW_PLAIN_HTTP = DEVELOPMENT

# Collections: how each channel's messages leave, and what they quote.
MESSAGE_BACKENDS = {
    "sms": env.str("SMS_BACKEND", default="collection.channels.ConsoleBackend"),
    "inbox": "collection.channels.InboxBackend",
}
SMS_GATEWAY_URL = env.str("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_TOKEN = env.str("SMS_GATEWAY_TOKEN", default="")
SMS_GATEWAY_TIMEOUT = env.float("SMS_GATEWAY_TIMEOUT", default=5.0)
# The wait before a message that failed for a passing reason (timeout, 5xx)
# is tried again; it doubles after each attempt: 2, 4, 8, 16, 32 minutes.
MESSAGE_RETRY_FIRST = timedelta(
    seconds=env.float("MESSAGE_RETRY_FIRST_SECONDS", default=120.0)
)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
COLLECTION_HOTLINE = env.str("COLLECTION_HOTLINE", default="400-000-0000")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "redact": {"()": "config.logging.RedactPersonalData"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    # Django's own loggers write through the same redacting handler, replacing
    # the default console handlers (runserver's request lines included).
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}
