"""Settings by mode: production refuses to start without real secrets.

Each case runs Django in a subprocess with an environment built from scratch,
so neither this test run's settings nor the developer's shell leak in. The
settings also read an optional `.env` in the repository root; variables in the
environment win over it, so every variable a case depends on is set
explicitly, and a case that needs one *absent* is skipped if `.env` sets it.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
DOTENV = REPO / ".env"

# Variables that configure the settings under test; never inherited.
_OWN = re.compile(
    r"^(DJANGO_.*|SECRET_KEY|ALLOWED_HOSTS|PII_.*|DATABASE_URL|DEBUG|"
    r"CELERY_.*|CSRF_TRUSTED_ORIGINS|SECURE_.*|LOG_LEVEL)$"
)


def dotenv_defines(name: str) -> bool:
    if not DOTENV.exists():
        return False
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(name)}\s*=")
    return any(pattern.match(line) for line in DOTENV.read_text().splitlines())


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """A complete, real-looking production environment; None removes a key."""
    env = {key: value for key, value in os.environ.items() if not _OWN.match(key)}
    env.update(
        DJANGO_MODE="production",
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="lending.example.cn",
        PII_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        PII_HASH_KEY=secrets.token_urlsafe(32),
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)


def setting(name: str, env: dict[str, str]) -> str:
    result = run(["-c", f"import config.settings as s; print(repr(s.{name}))"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_production_with_every_secret_passes_the_deploy_check(
    tmp_path: Path,
) -> None:
    result = deploy_check(production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.skipif(
    dotenv_defines("SECRET_KEY"), reason=".env defines SECRET_KEY, so it is not missing"
)
def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    result = deploy_check(production_env(tmp_path, SECRET_KEY=None))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


@pytest.mark.skipif(
    dotenv_defines("ALLOWED_HOSTS"),
    reason=".env defines ALLOWED_HOSTS, so it is not missing",
)
def test_production_without_allowed_hosts_refuses_to_start(tmp_path: Path) -> None:
    result = deploy_check(production_env(tmp_path, ALLOWED_HOSTS=None))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize("name", ["PII_ENCRYPTION_KEYS", "PII_HASH_KEY"])
def test_production_without_a_pii_key_refuses_to_start(
    tmp_path: Path, name: str
) -> None:
    if dotenv_defines(name):
        pytest.skip(f".env defines {name}, so it is not missing")

    result = deploy_check(production_env(tmp_path, **{name: None}))

    assert result.returncode != 0
    assert name in result.stderr


def test_production_with_a_weak_secret_key_fails_the_deploy_check(
    tmp_path: Path,
) -> None:
    result = deploy_check(production_env(tmp_path, SECRET_KEY="short"))

    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.skipif(
    dotenv_defines("DEBUG"), reason=".env defines DEBUG, so it is not unset"
)
def test_debug_is_off_in_production_unless_asked(tmp_path: Path) -> None:
    assert setting("DEBUG", production_env(tmp_path)) == "False"
    assert setting("DEBUG", production_env(tmp_path, DEBUG="true")) == "True"


def test_an_unknown_mode_refuses_to_start(tmp_path: Path) -> None:
    result = run(
        ["-c", "import config.settings"],
        production_env(tmp_path, DJANGO_MODE="staging"),
    )

    assert result.returncode != 0
    assert "DJANGO_MODE" in result.stderr


def test_development_mode_starts_with_nothing_set(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        DJANGO_MODE="development",
        SECRET_KEY=None,
        ALLOWED_HOSTS=None,
        PII_ENCRYPTION_KEYS=None,
        PII_HASH_KEY=None,
    )

    assert setting("DEVELOPMENT", env) == "True"
