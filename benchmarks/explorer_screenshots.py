#!/usr/bin/env python
"""The README's two explorer screenshots, taken of trained models (issue 28, item 7).

    python benchmarks/explorer_screenshots.py ROOT [--out docs]

ROOT is an export root holding ``vae_mlp_2d_mnist`` (a 2-d latent: its map is the latent space
itself) and ``cgan_mnist``, trained (the commands the page was made with are in the README's
explorer section). Runs ``keras-gen explore ROOT`` from the repository (so the map's caption names
``data/mnist``, not this machine's path) and headless Chromium through Selenium, as
tests/test_explorer_browser.py does; writes ``OUT/explorer_vae.png`` and ``OUT/explorer_gan.png``.
Needs Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def wait(driver, script: str, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if driver.execute_script(script):
            return
        time.sleep(0.1)
    raise SystemExit(f"explorer_screenshots: timed out waiting for {what}")


def settle(driver) -> None:
    wait(driver, "return window.kgExplorer && window.kgExplorer.idle()", "the page to settle")


def open_model(driver, url: str, model: str, query: str = "") -> None:
    driver.get(f"{url}/?model={model}{query}")
    wait(driver, "return document.body.dataset.state === 'ready'", f"{model} to load")
    settle(driver)


def draw_seven(driver) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    pad = driver.find_element("id", "draw")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    ActionChains(driver).move_to_element_with_offset(pad, -50, -60).click_and_hold().move_by_offset(100, 0) \
        .move_by_offset(-55, 130).release().perform()
    settle(driver)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="export root with vae_mlp_2d_mnist and cgan_mnist")
    p.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go (default docs/)")
    args = p.parse_args(argv)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import Select

    server = subprocess.Popen([sys.executable, "-m", "keras_gen", "explore", str(args.root.resolve()), "--no-browser",
                               "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    driver = None
    try:
        url = None
        for line in server.stdout:
            match = re.search(r"^explorer: (http://127\.0\.0\.1:\d+)/ ", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise SystemExit("explorer_screenshots: keras-gen explore did not start")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1180",
                     f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        args.out.mkdir(parents=True, exist_ok=True)

        open_model(driver, url, "vae_mlp_2d_mnist", "&seed=5")
        driver.find_element("id", "grid-overlay").click()
        settle(driver)
        driver.find_element("id", "walk").click()
        settle(driver)
        draw_seven(driver)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(args.out / "explorer_vae.png"))

        open_model(driver, url, "cgan_mnist", "&seed=11")
        Select(driver.find_element("id", "class")).select_by_value("3")
        settle(driver)
        driver.execute_script("document.getElementById('interp-a').value = 3; "
                              "document.getElementById('interp-b').value = 8")
        driver.find_element("id", "interp").click()
        settle(driver)
        driver.find_element("id", "rank").click()  # how much each coordinate changes the image here
        settle(driver)
        Select(driver.find_element("id", "slider-order")).select_by_value("sensitivity")
        settle(driver)
        driver.save_screenshot(str(args.out / "explorer_gan.png"))
        print(f"wrote {args.out / 'explorer_vae.png'} and {args.out / 'explorer_gan.png'}")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
