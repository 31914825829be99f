"""Gunicorn's settings for the web process: `gunicorn -c config/gunicorn.py`.

Every value can be changed through the environment (see `.env.example`).
"""

import multiprocessing
import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")

# Requests spend most of their time waiting on PostgreSQL, so each process
# runs a few threads (gthread worker). Processes default to one per core plus
# one, threads to four: on 2 cores that is 12 requests at once, and 12
# database connections per host, which PostgreSQL's default limit of 100
# allows for several hosts.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))

# No page or API call should take 30 seconds; one that does is killed and
# logged rather than holding a thread. Long work (the close, scoring) runs in
# Celery, never in a request.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 30
# Behind a load balancer that keeps connections open between requests.
keepalive = 5

# A process is replaced after this many requests (with jitter, so they do not
# all restart together): a slow leak cannot grow without end.
max_requests = 2000
max_requests_jitter = 200

# Logs go to stdout/stderr like Django's, for the process manager to collect.
accesslog = "-"
errorlog = "-"
# The proxy in front terminates TLS and sets X-Forwarded-Proto.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
