"""The README's screenshots, taken from the demo (`make screenshots`).

Seeds the demo into a scratch SQLite database (migrate, then demo_seed, as
`make run` does), serves it with runserver on a free port, and has Debian's
Chromium take the borrower's pages on a 390 px phone and the staff's
morning view on a desktop window, in Chinese, into docs/screenshots/. The
sign-ins are the ones demo_seed prints.

Not a test: pytest does not collect this file and `make test` does not run
it. Chinese text needs a CJK font in the system (fonts-wqy-microhei or
fonts-noto-cjk), or the pictures show empty boxes.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
# Demo people whose pages the README shows: a borrower who may borrow again
# and a risk officer, who sees every branch.
BORROWER = "王建国"
STAFF = "risk"
AMOUNT, TERM = "1500", "6"  # within his available 1,800


def scratch_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CELERY_BROKER_URL", None)  # tasks run in-process
    env.update(
        DJANGO_MODE="development",
        DATABASE_URL=f"sqlite:///{folder / 'demo.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def sign_ins(printed: str) -> tuple[str, str, str]:
    """The borrower's phone and password, and the staff password, as
    demo_seed printed them."""
    borrower = re.search(rf"^\s+(1\d{{10}})\s+(\S+)\s+{BORROWER} ", printed, re.M)
    staff = re.search(rf"^\s+{STAFF}\s+(\S+)\s", printed, re.M)
    if borrower is None or staff is None:
        raise SystemExit(f"demo_seed did not print {BORROWER} or {STAFF}:\n{printed}")
    return borrower.group(1), borrower.group(2), staff.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("runserver did not answer") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def window(browser: Browser, viewport: dict[str, int]) -> Page:
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"  {path.relative_to(ROOT)}")


def borrower_pages(browser: Browser, url: str, phone: str, password: str) -> None:
    page = window(browser, PHONE)
    page.goto(f"{url}/sign-in/")
    page.locator("input[name=username]").fill(phone)
    page.locator("input[name=password]").fill(password)
    page.locator("form button.primary").click()
    expect(page.locator("#my-loans")).to_be_visible()
    shoot(page, "borrower-phone-home")

    page.goto(f"{url}/loans/apply/")
    page.locator("input[name=principal]").fill(AMOUNT)
    page.locator("select[name=term_months]").select_option(TERM)
    page.locator("button[name=preview]").click()
    expect(page.locator("#cost")).to_be_visible()
    shoot(page, "borrower-phone-apply")

    page.goto(f"{url}/")
    page.locator("#my-branch-link").click()
    expect(page.locator("#branch-standing")).to_be_visible()
    shoot(page, "borrower-phone-branch")


def staff_pages(browser: Browser, url: str, password: str) -> None:
    page = window(browser, DESKTOP)
    page.goto(f"{url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill(STAFF)
    page.locator("#id_password").fill(password)
    page.locator("input[type=submit]").click()
    expect(page.locator("#today-close")).to_be_visible()
    shoot(page, "staff-admin-today", full_page=False)

    page.goto(f"{url}/risk/")
    expect(page.locator(".headline")).to_be_visible()
    shoot(page, "staff-morning-view", full_page=False)


def main() -> None:
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"needs Chromium at {CHROMIUM}: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="demo-screens-") as folder:
        env = scratch_env(Path(folder))
        print("Seeding the demo into a scratch database (a few minutes) ...")
        manage(env, "compile_catalogue")
        manage(env, "migrate", "--no-input")
        phone, password, staff_password = sign_ins(manage(env, "demo_seed"))
        OUT.mkdir(parents=True, exist_ok=True)
        with served(env) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            borrower_pages(browser, url, phone, password)
            staff_pages(browser, url, staff_password)
            browser.close()


if __name__ == "__main__":
    main()
