"""report.html in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``): it loads with no console
errors, and every image (plots, GIFs) and every video (MP4) resolves and decodes."""

from __future__ import annotations

import functools
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install 'f2g-eval[test]')")

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from f2g_eval.runner import EvalSpec, run_eval

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="Chromium is missing: apt-get install chromium chromium-driver (scripts/setup.sh --dev does it as root)",
)

CHECK = """
const images = Array.from(document.images);
const videos = Array.from(document.querySelectorAll('video'));
return {
  images: images.length,
  broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 60)),
  videos: videos.length,
  unready: videos.filter(v => v.error !== null || v.readyState < 2).map(v => [v.getAttribute('src'),
           v.error && v.error.code, v.readyState]),
  plots: images.filter(i => i.src.startsWith('data:image/png')).length,
};
"""


@pytest.fixture
def served(tmp_path: Path):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@needs_chromium
def test_report_loads_without_errors_and_every_media_resolves(eval_files, tmp_path, served) -> None:
    mp4_only = tmp_path / "mp4.yaml"
    mp4_only.write_text(eval_files["guided"].read_text().replace("[gif, mp4]", "[mp4]").replace("dates: 3", "dates: 2"))
    spec = EvalSpec(
        suite=str(eval_files["suite"]), configs=[str(eval_files["base"]), str(eval_files["guided"]), str(mp4_only)],
        out=tmp_path / "out", seeds=[0], metrics=["shapes"],
    )  # fmt: skip
    outcome = run_eval(spec)
    assert "report" in outcome.files
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        driver.get(f"{served}/out/report.html")
        deadline = time.monotonic() + 20
        state = driver.execute_script(CHECK)
        while (state["broken"] or state["unready"]) and time.monotonic() < deadline:
            time.sleep(0.25)
            state = driver.execute_script(CHECK)
        logs = driver.get_log("browser")
        title = driver.title
    finally:
        driver.quit()
    assert title == "f2g eval: suite"
    assert [entry for entry in logs if entry["level"] == "SEVERE"] == []
    assert state["broken"] == [] and state["unready"] == []
    assert state["plots"] == 3  # metric vs cost, per dimension, candidate spread per guided step
    assert state["images"] == 3 + 2 * 2  # plus the GIFs of the two configs that wrote one (2 prompts)
    assert state["videos"] == 2  # the MP4-only config's two videos
