"""The archiver's web pages in a real headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium), against a real IOC, a running engine and ``python -m epics.archiver web``:
a status page shows a value change live with its alarm colour, and a value's link opens its
history plot. Screenshots are saved in the test's folder, and into docs/_static/archiver when
EPICS_ARCHIVER_SCREENSHOTS=1 (the pictures of docs/archiver.rst).

Chromium is installed with apt-get when /usr/bin/chromium is missing (CI on a fresh machine).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from epics import caput
from epics.archiver import Engine, EngineSettings, PvPolicy, open_storage
from epics.testing import free_port
from archiver_helpers import ARCHIVER_DB, DEADLINE, wait_until, write_config

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DOCS_PICTURES = Path(__file__).resolve().parent.parent / "docs" / "_static" / "archiver"


def ensure_chromium() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, timeout=600, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
                   check=True, timeout=900, env=env, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def browser():
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="epics-archiver-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1200,800",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(DEADLINE)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def save(driver, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / name))
    if os.environ.get("EPICS_ARCHIVER_SCREENSHOTS") == "1":
        DOCS_PICTURES.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, DOCS_PICTURES / name)


@pytest.fixture
def site(softioc_factory, pv_prefix, tmp_path):
    """IOC + engine + web server; yields (base URL, PV prefix)."""
    softioc_factory(ARCHIVER_DB, macros={"P": pv_prefix})
    url = f"sqlite:///{tmp_path / 'b.db'}"
    pages = f"""
[[page]]
name = "beamline"
title = "Beamline 13 status"
[[page.section]]
title = "Sample stage"
pvs = [["Temperature", "{pv_prefix}temp"], ["Mode", "{pv_prefix}mode"],
       ["Message", "{pv_prefix}msg"]]
[[page.section]]
title = "Detector"
pvs = [["Counter", "{pv_prefix}count"], ["Unplugged", "{pv_prefix}absent"]]
"""
    config = write_config(tmp_path / "b.toml", url, [], pages)
    policies = [PvPolicy(pv_prefix + name) for name in ("temp", "mode", "msg", "count")]
    engine = Engine(policies, open_storage(url), EngineSettings(flush_interval=0.1)).start()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "epics.archiver", "web", "--config",
                               str(config), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"

    def serving():
        try:
            with urllib.request.urlopen(base + "/", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return server.poll() is not None   # ended: reported below
    try:
        wait_until(serving, what="web server up")
        assert server.poll() is None, server.communicate()[0]
        yield base, pv_prefix
    finally:
        server.terminate()
        try:
            server.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
        engine.stop()


def test_status_page_updates_live_with_alarm_colours_and_opens_a_plot(browser, site, tmp_path):
    from selenium.webdriver.common.by import By
    base, prefix = site
    browser.get(base + "/page/beamline")
    stream = browser.find_element(By.ID, "stream-state")
    wait_until(lambda: stream.text == "live", what="event stream open")
    temp = browser.find_element(By.CSS_SELECTOR, f'[data-pv="{prefix}temp"]')
    mode = browser.find_element(By.CSS_SELECTOR, f'[data-pv="{prefix}mode"]')
    absent = browser.find_element(By.CSS_SELECTOR, f'[data-pv="{prefix}absent"]')
    wait_until(lambda: mode.text == "Off", what="enum shown as its string")
    assert "disconnected" in absent.get_attribute("class") and absent.text == "disconnected"

    caput(prefix + "temp", 60.0, wait=True)       # MINOR (HIGH = 50)
    caput(prefix + "mode", 2, wait=True)
    wait_until(lambda: temp.text == "60.00 degC", what="new value shown live")
    assert "sev1" in temp.get_attribute("class")
    wait_until(lambda: mode.text == "Auto", what="enum change shown")
    caput(prefix + "temp", 90.0, wait=True)       # MAJOR (HIHI = 80)
    wait_until(lambda: "sev2" in temp.get_attribute("class"), what="major alarm colour")
    colour = temp.value_of_css_property("background-color")
    assert colour.replace(" ", "") in ("rgba(249,192,192,1)", "rgb(249,192,192)")
    save(browser, tmp_path, "status-page.png")

    temp.click()
    canvas = browser.find_element(By.ID, "plot")
    wait_until(lambda: canvas.get_attribute("data-ready") == "1", what="plot drawn")
    assert int(canvas.get_attribute("data-points")) >= 3   # 0, 60, 90
    assert browser.find_element(By.ID, "csv").get_attribute("href").startswith(
        base + "/api/history.csv?pv=")
    related = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".add-pv")]
    assert prefix + "mode" in related
    browser.find_element(By.CSS_SELECTOR, '[data-span="3600"]').click()
    wait_until(lambda: "from=" in browser.current_url, what="range in the URL")
    save(browser, tmp_path, "history-plot.png")
