"""The latent explorer in a real browser (issue 16): headless Chromium driven by Selenium against a
real ``keras-gen explore --no-browser`` subprocess on a free port of 127.0.0.1, over the tiny
exports of :mod:`test_rest_server` (trained once per session).

What the page shows is checked against the SavedModel loaded here with ``tf.saved_model.load``:
after a slider move, a click on the VAE map or a class change, the image on the page must be the
export's output for exactly the latent (and class) the page sent, and differ from the one before.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped, saying so,
where they are not installed. ``KERAS_GEN_SCREENSHOTS=DIR`` saves the two views as
``DIR/explorer_gan.png`` and ``DIR/explorer_vae.png``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from test_rest_server import explorer_root, start_server, stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1700"]

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Chromium is not installed: apt-get install chromium chromium-driver (.ci/run does)")


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_mnist_dir):
    return explorer_root(tmp_path_factory, tiny_mnist_dir)


@pytest.fixture(scope="module")
def explorer(root, tmp_path_factory):
    log = tmp_path_factory.mktemp("explore") / "stderr.txt"
    proc, url = start_server(["explore", root, "--no-browser", "--port", "0"], log,
                             r"^explorer: (http://127\.0\.0\.1:\d+)/ ")
    yield {"url": url, "proc": proc, "log": log}
    stop(proc)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def plain(root):
    import tensorflow as tf

    return {name: tf.saved_model.load(str(root / name / "1")) for name in ("vae_mlp_2d_mnist", "cgan_mnist")}


# --------------------------------------------------------------------------- helpers
def js(driver, script, *args):
    return driver.execute_script(script, *args)


def wait_for(driver, condition, what, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        status = js(driver, "return document.getElementById('status').className")
        if status == "error":
            raise AssertionError("the page reports: "
                                 f"{js(driver, 'return document.getElementById(`status`).textContent')}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; page status: "
                         f"{js(driver, 'return document.getElementById(`status`).textContent')}")


def open_model(driver, explorer, model, query=""):
    driver.get(f"{explorer['url']}/?model={model}{query}")
    wait_for(driver, lambda: js(driver, "return document.body.dataset.state") == "ready", f"{model} to load")
    wait_idle(driver)


def wait_idle(driver):
    wait_for(driver, lambda: js(driver, "return window.kgExplorer && window.kgExplorer.idle()"), "the page to settle")


def main_state(driver) -> dict:
    return js(driver, """const S = kgExplorer.state;
        return {renders: S.renders, image: Array.from(S.mainImage), z: S.z.slice(), last: S.lastMain,
                canvas: document.getElementById('main-image').toDataURL()};""")


def wait_new_render(driver, before: dict) -> dict:
    wait_for(driver, lambda: js(driver, "return kgExplorer.state.renders") > before["renders"], "a new image")
    wait_idle(driver)
    return main_state(driver)


def decoded(plain_module, signature, z, label=None):
    import tensorflow as tf

    inputs = {"z": tf.constant(np.asarray([z], np.float32))}
    if label is not None:
        inputs["label"] = tf.constant([label], tf.int32)
    return plain_module.signatures[signature](**inputs)["images"].numpy().reshape(-1)


def severe_console_messages(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver, name):
    target = os.environ.get("KERAS_GEN_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / name))


# --------------------------------------------------------------------------- tests
def test_page_loads_lists_every_model_and_fetches_nothing_from_elsewhere(browser, explorer):
    open_model(browser, explorer, "cgan_mnist")
    assert browser.title == "keras_gen latent explorer"
    options = js(browser, "return Array.from(document.getElementById('model').options, o => o.value)")
    assert sorted(options) == ["cgan_mnist", "vae_mlp_2d_mnist"]
    info = js(browser, "return document.getElementById('model-info').textContent")
    assert "gan, latent 100, 28×28×1, 10 classes" in info
    state = main_state(browser)
    assert state["renders"] >= 1 and len(state["image"]) == 28 * 28
    assert state["last"]["signature"] == "generate"
    sliders = js(browser, "return document.querySelectorAll('#sliders input[type=range]').length")
    assert sliders == 100
    resources = js(browser, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(r.startswith(explorer["url"]) for r in resources), resources
    assert js(browser, "return kgExplorer.state.sensitivity.length") == 100  # ranked on load
    assert js(browser, "return document.querySelectorAll('#strips canvas').length") == 8
    assert js(browser, "return kgExplorer.state.interp.images.length") == 10
    assert severe_console_messages(browser) == []


def test_moving_a_slider_changes_the_image(browser, explorer, plain):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_model(browser, explorer, "cgan_mnist")
    before = main_state(browser)
    # The most sensitive coordinate (the ranking the page computed), clicked near its slider's right end.
    index = js(browser, "const s = kgExplorer.state.sensitivity; return s.indexOf(Math.max(...s))")
    slider = browser.find_element("css selector", f".slider[data-index='{index}'] input[type=range]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    width = slider.size["width"]
    ActionChains(browser).move_to_element_with_offset(slider, int(width * 0.4), 0).click().perform()
    after = wait_new_render(browser, before)
    assert after["z"][index] != pytest.approx(before["z"][index], abs=1e-3)
    assert after["z"][index] == pytest.approx(float(slider.get_attribute("value")), abs=1e-9)
    assert after["last"]["z"] == pytest.approx(after["z"], abs=1e-9)  # the request carried the slider's value
    assert after["canvas"] != before["canvas"]
    assert np.abs(np.subtract(after["image"], before["image"])).max() > 1e-4
    np.testing.assert_allclose(after["image"], decoded(plain["cgan_mnist"], "generate", after["z"], 0), atol=1e-6)
    typed = browser.find_element("css selector", f".slider[data-index='{index}'] input[type=number]")
    typed.click()
    typed.send_keys(Keys.CONTROL, "a")
    typed.send_keys("-2.5", Keys.TAB)
    typed_state = wait_new_render(browser, after)
    assert typed_state["z"][index] == pytest.approx(-2.5)


def test_class_picker_changes_the_class_the_image_is_drawn_for(browser, explorer, plain):
    from selenium.webdriver.support.ui import Select

    open_model(browser, explorer, "cgan_mnist")
    before = main_state(browser)
    assert before["last"]["label"] == 0
    assert js(browser, "return document.querySelectorAll('#class-row canvas').length") == 10  # same z, every class
    Select(browser.find_element("id", "class")).select_by_value("3")
    after = wait_new_render(browser, before)
    assert after["last"]["label"] == 3 and after["last"]["labels"] == [3]  # what the request sent
    assert "class 3" in js(browser, "return document.getElementById('request-info').textContent")
    assert js(browser, "return document.body.dataset.lastLabel") == "3"
    assert after["z"] == before["z"]
    # The image is the export's for class 3 at that z, and not the one for class 0.
    want = decoded(plain["cgan_mnist"], "generate", after["z"], 3)
    np.testing.assert_allclose(after["image"], want, atol=1e-6)
    assert np.abs(want - decoded(plain["cgan_mnist"], "generate", after["z"], 0)).max() > 1e-4
    assert np.abs(np.subtract(after["image"], before["image"])).max() > 1e-4
    # Clicking a thumbnail of the class row picks that class too.
    browser.find_element("css selector", "#class-row canvas[data-label='7']").click()
    picked = wait_new_render(browser, after)
    assert picked["last"]["label"] == 7 and js(browser, "return document.getElementById('class').value") == "7"
    screenshot(browser, "explorer_gan.png")


def test_clicking_the_vae_map_decodes_that_point(browser, explorer, plain):
    from selenium.webdriver.common.action_chains import ActionChains

    open_model(browser, explorer, "vae_mlp_2d_mnist")
    assert js(browser, "return kgExplorer.state.map.n") == 256  # the tiny test split's images
    assert "test images" in js(browser, "return document.getElementById('map-caption').textContent")
    canvas = browser.find_element("id", "map")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    size = js(browser, "const c = arguments[0]; return [c.clientWidth, c.clientHeight]", canvas)
    states = []
    for fx, fy in ((0.25, 0.3), (0.75, 0.8)):
        before = main_state(browser)
        ActionChains(browser).move_to_element_with_offset(canvas, int(size[0] * (fx - 0.5)),
                                                          int(size[1] * (fy - 0.5))).click().perform()
        after = wait_new_render(browser, before)
        click = js(browser, "return kgExplorer.state.mapClick")
        assert click["x"] == pytest.approx(size[0] * fx, abs=2) and click["y"] == pytest.approx(size[1] * fy, abs=2)
        assert after["last"]["signature"] == "decode"
        expected_z = js(browser, "return kgExplorer.mapToLatent(arguments[0], arguments[1])", click["x"], click["y"])
        assert after["last"]["z"] == pytest.approx(expected_z, abs=1e-9)  # the point under the click
        np.testing.assert_allclose(after["image"], decoded(plain["vae_mlp_2d_mnist"], "decode", expected_z),
                                   atol=1e-6)
        assert after["canvas"] != before["canvas"]
        states.append(after)
    assert np.abs(np.subtract(states[0]["image"], states[1]["image"])).max() > 1e-4
    # Hovering a test point shows its image.
    x, y = js(browser, "const M = kgExplorer.state.map; return kgExplorer.latentToMap(M.means[5])")
    ActionChains(browser).move_to_element_with_offset(canvas, int(round(x - size[0] / 2)),
                                                      int(round(y - size[1] / 2))).perform()
    wait_for(browser, lambda: js(browser, "return !document.getElementById('map-tooltip').hidden"), "the tooltip")
    # Walk between two test images: a strip of decoded images along the path between their means.
    browser.find_element("id", "walk").click()
    wait_idle(browser)
    assert js(browser, "return kgExplorer.state.walk.images.length") == 10
    browser.find_element("id", "grid-overlay").click()
    wait_idle(browser)
    screenshot(browser, "explorer_vae.png")
    assert severe_console_messages(browser) == []


def test_drawing_a_digit_encodes_it_onto_the_map(browser, explorer):
    from selenium.webdriver.common.action_chains import ActionChains

    open_model(browser, explorer, "vae_mlp_2d_mnist")
    pad = browser.find_element("id", "draw")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    before = main_state(browser)
    ActionChains(browser).move_to_element_with_offset(pad, 0, -60).click_and_hold().move_by_offset(0, 60) \
        .move_by_offset(0, 50).release().perform()  # a "1"
    after = wait_new_render(browser, before)
    drawn = js(browser, "return kgExplorer.state.drawn")
    assert drawn and len(drawn["mean"]) == 2
    assert js(browser, "return kgExplorer.state.map.marker") == pytest.approx(drawn["mean"])
    assert after["z"] == pytest.approx(drawn["mean"], abs=1e-6)  # the image is the decoded mean
    # Drawn off-centre and small, the model still gets an MNIST digit: the ink's box scaled into
    # 20x20 (a "1": 20 rows tall) and moved so its centre of mass is the frame's centre.
    js(browser, "document.getElementById('draw-clear').click()")
    before = main_state(browser)
    ActionChains(browser).move_to_element_with_offset(pad, -70, -70).click_and_hold().move_by_offset(4, 30) \
        .release().perform()  # short, in the top-left corner
    wait_new_render(browser, before)
    image = np.asarray(js(browser, "return kgExplorer.state.drawn.input")).reshape(28, 28)
    rows = np.flatnonzero(image.max(axis=1) > 0.1)
    assert 18 <= rows[-1] - rows[0] + 1 <= 22, rows
    ys, xs = np.mgrid[0:28, 0:28] + 0.5
    assert abs((image * ys).sum() / image.sum() - 14) <= 0.5 and abs((image * xs).sum() / image.sum() - 14) <= 0.5


def test_picking_walk_ends_says_what_happened(browser, explorer):
    """Pick B: a click on no point says so and keeps the pick going; a click on a point takes it
    and the status says which, and what to do next."""
    from selenium.webdriver.common.action_chains import ActionChains

    open_model(browser, explorer, "vae_mlp_2d_mnist")
    canvas = browser.find_element("id", "map")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    size = js(browser, "const c = arguments[0]; return [c.clientWidth, c.clientHeight]", canvas)
    browser.find_element("id", "pick-b").click()
    empty = js(browser, """const M = kgExplorer.state.map, c = document.getElementById('map');
        for (let y = 5; y < c.height; y += 10) for (let x = 5; x < c.width; x += 10) {
          const far = (m) => { const [px, py] = kgExplorer.latentToMap(m); return Math.hypot(px - x, py - y) > 40; };
          if (M.means.every(far)) return [x, y];
        }
        return null;""")
    assert empty, "no empty spot on the map"
    ActionChains(browser).move_to_element_with_offset(canvas, int(empty[0] - size[0] / 2),
                                                      int(empty[1] - size[1] / 2)).click().perform()
    status = js(browser, "return document.getElementById('status').textContent")
    assert "no test image within 25 pixels" in status and "for B" in status, status
    assert "active" in browser.find_element("id", "pick-b").get_attribute("class")  # still picking
    x, y = js(browser, "return kgExplorer.latentToMap(kgExplorer.state.map.means[7])")
    ActionChains(browser).move_to_element_with_offset(canvas, int(round(x - size[0] / 2)),
                                                      int(round(y - size[1] / 2))).click().perform()
    b = js(browser, "return kgExplorer.state.walk.b")
    status = js(browser, "return document.getElementById('status').textContent")
    assert f"B is test image #{b}" in status and "with Walk" in status, status
    assert "active" not in browser.find_element("id", "pick-b").get_attribute("class")


def test_a_class_change_redraws_the_strips_for_that_class(browser, explorer, plain):
    """cgan: the interpolation strip drawn for class 0 is drawn again for class 7 (it stayed class 0)."""
    import tensorflow as tf

    open_model(browser, explorer, "cgan_mnist")
    js(browser, "document.getElementById('interp-steps').value = 4")
    browser.find_element("id", "interp").click()
    wait_for(browser, lambda: js(browser, "return kgExplorer.state.interp && kgExplorer.state.interp.steps") == 4,
             "the interpolation")
    wait_idle(browser)
    assert js(browser, "return kgExplorer.state.interp.label") == 0
    js(browser, "const c = document.getElementById('class'); c.value = '7'; c.dispatchEvent(new Event('change'))")
    wait_for(browser, lambda: js(browser, "return kgExplorer.state.interp.label") == 7, "the strip for class 7")
    wait_idle(browser)
    path = np.asarray(js(browser, "return kgExplorer.state.interp.path"), np.float32)
    images = np.asarray(js(browser, "return kgExplorer.state.interp.images.map(im => Array.from(im))"))
    want = plain["cgan_mnist"].signatures["generate"](z=tf.constant(path), label=tf.constant([7] * 4))
    np.testing.assert_allclose(images, want["images"].numpy().reshape(4, -1), atol=1e-5)


def test_interpolation_plays_and_exports_a_gif(browser, explorer, plain):
    """Seeds 1 -> 2, spherical: the strip is the export's images along the slerp of the two seeds'
    latents, and the GIF (encoded by the page, decoded here by Pillow) holds them, ping-pong."""
    import io

    import tensorflow as tf
    from PIL import Image

    from keras_gen.serving.runtime import spherical_interpolation

    open_model(browser, explorer, "vae_mlp_2d_mnist")
    browser.find_element("css selector", "input[name=interp-mode][value=spherical]").click()
    js(browser, "document.getElementById('interp-steps').value = 6")
    browser.find_element("id", "interp").click()
    wait_for(browser, lambda: js(browser, "return kgExplorer.state.interp.steps") == 6, "the interpolation")
    wait_idle(browser)
    images = np.asarray(js(browser, "return kgExplorer.state.interp.images.map(im => Array.from(im))"))
    module = plain["vae_mlp_2d_mnist"]
    z = module.signatures["latent"](seed=tf.constant([1, 2]))["z"].numpy().astype(np.float64)
    path = spherical_interpolation(z[0], z[1], np.linspace(0, 1, 6)).astype(np.float32)
    want = module.signatures["decode"](z=tf.constant(path))["images"].numpy().reshape(6, -1)
    np.testing.assert_allclose(images, want, atol=1e-5)
    browser.find_element("id", "interp-play").click()
    assert js(browser, "return document.getElementById('interp-play').textContent") == "Stop"
    browser.find_element("id", "interp-play").click()
    gif = bytes(js(browser, "const S = kgExplorer.state; "
                            "return Array.from(kgExplorer.encodeGif(S.interp.images, S.shape))"))
    frames = Image.open(io.BytesIO(gif))
    assert frames.n_frames == 2 * 6 - 2 and frames.size == (112, 112)
    for k, index in enumerate([0, 1, 2, 3, 4, 5, 4, 3, 2, 1]):
        frames.seek(k)
        got = np.asarray(frames.convert("L"))[::4, ::4].reshape(-1)
        np.testing.assert_array_equal(got, np.round(np.clip(images[index], 0, 1) * 255).astype(np.uint8))


def test_randomise_keeps_locked_coordinates(browser, explorer):
    open_model(browser, explorer, "cgan_mnist")
    js(browser, "document.querySelector('.slider[data-index=\"5\"] input[type=checkbox]').click()")
    before = main_state(browser)
    browser.find_element("id", "randomise").click()
    after = wait_new_render(browser, before)
    assert after["z"][5] == before["z"][5]
    assert sum(a != b for a, b in zip(after["z"], before["z"])) >= 90
    assert js(browser, "return kgExplorer.state.seed") != 0
    browser.find_element("id", "reset").click()  # back to the seed's own latent, the lock included
    reset = wait_new_render(browser, after)
    assert reset["z"] == pytest.approx(js(browser, "return kgExplorer.state.seedZ"))


def test_the_view_is_in_the_url(browser, explorer):
    open_model(browser, explorer, "cgan_mnist", "&seed=42&label=4")
    state = main_state(browser)
    seeded = js(browser, "return kgExplorer.state.seed")
    assert seeded == 42 and state["last"]["label"] == 4
    js(browser, "document.querySelector('.slider[data-index=\"2\"] input[type=checkbox]').click()")
    wait_for(browser, lambda: "lock=2" in browser.current_url, "the URL to record the lock")
    url = browser.current_url
    assert "model=cgan_mnist" in url and "seed=42" in url and "label=4" in url and "z=" in url
    browser.get("about:blank")
    browser.get(url)
    wait_for(browser, lambda: js(browser, "return document.body.dataset.state") == "ready", "the shared view")
    wait_idle(browser)
    again = main_state(browser)
    assert again["z"] == pytest.approx(state["z"], abs=1e-4) and again["last"]["label"] == 4
    assert js(browser, "return kgExplorer.state.locks[2]") is True
