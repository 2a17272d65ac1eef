"""emb report: the page written, then opened in headless Chromium (no test here is skipped:
.ci/run installs Debian's chromium, the dev extra playwright)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.report_pages import HOSTILE_TOKENS, hostile_model, open_page


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_model(tmp_path_factory.mktemp("hostile") / "model")


@pytest.fixture(scope="module")
def hostile_page(hostile: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from emb_cli.cli import app

    out = tmp_path_factory.mktemp("page") / "report.html"
    r = CliRunner().invoke(app, ["report", str(hostile), "-o", str(out)], env={"EMB_DEBUG": "1"})
    assert r.exit_code == 0, (r.stdout, r.stderr, r.exception)
    assert r.stdout == ""  # the page is the result; the note goes to stderr
    assert f"wrote {out}" in r.stderr
    return out


def _check_json(emb: Any, source: Path) -> dict[str, Any]:
    r = emb("check", str(source), "--json")
    assert r.exit_code in (0, 1), (r.stdout, r.stderr)
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def _verdicts(loaded: Any) -> list[tuple[str, str, str]]:
    rows = loaded.page.query_selector_all("#verdict-table tbody tr")
    return [
        (
            row.get_attribute("data-check"),
            row.get_attribute("data-status"),
            row.query_selector("td:nth-child(3)").evaluate("e => e.firstChild.textContent"),
        )
        for row in rows
    ]


def test_page_loads_with_no_request_and_no_console_error(browser: Any, hostile_page: Path) -> None:
    loaded = open_page(browser, hostile_page)
    assert loaded.requests == [hostile_page.resolve().as_uri()]
    assert loaded.console == []
    assert loaded.page.evaluate("window.pwned") is None  # no token ran as script
    assert loaded.page.locator("script").count() == 2  # the JSON block and the renderer
    loaded.page.close()


def test_points_drawn_equal_the_json(browser: Any, hostile_page: Path) -> None:
    loaded = open_page(browser, hostile_page)
    data = loaded.data()
    drawn = int(loaded.page.get_attribute("#map-canvas", "data-drawn"))
    assert drawn == len(data["ids"]) == 300  # every row of a 300-row table
    assert data["token"][:9] == HOSTILE_TOKENS  # the JSON carries the tokens unchanged
    kinds = [data["kinds"][k] for k in data["kind"]]
    assert kinds[2] == "zero row" and kinds[7] == kinds[8] == "zero row"
    assert kinds[0] == "normal"
    loaded.page.close()


def test_verdict_table_matches_emb_check_json(
    browser: Any, emb: Any, hostile: Path, hostile_page: Path
) -> None:
    expected = _check_json(emb, hostile)
    loaded = open_page(browser, hostile_page)
    assert _verdicts(loaded) == [(c["name"], c["status"], c["summary"]) for c in expected["checks"]]
    assert loaded.page.get_attribute("#overall", "data-status") == expected["status"]
    loaded.page.close()


def test_search_finds_a_token_and_marks_its_nearest_neighbours(
    browser: Any, emb: Any, hostile: Path, hostile_page: Path
) -> None:
    loaded = open_page(browser, hostile_page)
    page = loaded.page
    page.fill("#search", "w42")
    page.press("#search", "Enter")
    assert page.get_attribute("#map-canvas", "data-highlighted") == "42"
    marked = [int(i) for i in page.get_attribute("#map-canvas", "data-neighbours").split(",")]
    # 16 dimensions: the page's vectors are the rows themselves (int8), so its neighbours
    # are emb neighbors' exact cosine ones, up to int8 rounding of near-ties
    exact = emb.json("neighbors", "42", "-k", "10", "--from", str(hostile))["queries"][0]
    exact_ids = [n["id"] for n in exact["results"]]
    assert marked[0] == exact_ids[0]
    assert len(set(marked) & set(exact_ids)) >= 9
    assert "w42" in page.inner_text("#search-result")
    # a hostile token is found as text, and stays text
    page.fill("#search", HOSTILE_TOKENS[0])
    page.press("#search", "Enter")
    assert page.get_attribute("#map-canvas", "data-highlighted") == "0"
    assert HOSTILE_TOKENS[0] in page.inner_text("#search-result")
    assert page.evaluate("window.pwned") is None
    assert loaded.console == []
    page.close()


def test_hover_shows_id_token_norm_and_score(browser: Any, hostile_page: Path) -> None:
    loaded = open_page(browser, hostile_page)
    page = loaded.page
    page.set_viewport_size({"width": 1280, "height": 2000})  # the whole canvas in view
    box = page.locator("#map-canvas").bounding_box()
    # the canvas position of point 0, as report.js places it
    data = loaded.data()
    x, y = data["x"][0], data["y"][0]
    xs, ys = data["x"], data["y"]
    pad = 16
    px = pad + (x - min(xs)) / (max(xs) - min(xs)) * (box["width"] - 2 * pad)
    py = pad + (1 - (y - min(ys)) / (max(ys) - min(ys))) * (box["height"] - 2 * pad)
    page.mouse.move(box["x"] + px, box["y"] + py)
    tip = page.inner_text("#tooltip")
    assert tip.startswith("id 0 ") and "norm " in tip and "score " in tip
    assert json.dumps(HOSTILE_TOKENS[0]) in tip
    page.close()


def test_verdicts_read_with_javascript_off(
    browser: Any, emb: Any, hostile: Path, hostile_page: Path
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(hostile_page.resolve().as_uri())
    rows = page.query_selector_all("#verdict-table tbody tr")
    assert [r.get_attribute("data-check") for r in rows] == [
        c["name"] for c in _check_json(emb, hostile)["checks"]
    ]
    assert page.is_visible("#verdict-table") and page.is_visible("#candidates")
    assert "needs JavaScript" in page.inner_text("#map")
    assert page.get_attribute("#map-canvas", "data-drawn") == "0"
    context.close()


def test_screenshot_is_produced(browser: Any, hostile_page: Path, tmp_path: Path) -> None:
    loaded = open_page(browser, hostile_page)
    shot = tmp_path / "report.png"
    loaded.page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    loaded.page.close()


def test_minilm_page(browser: Any, emb: Any, minilm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "minilm.html"
    emb("report", str(minilm_dir), "-o", str(out), ok=True)
    loaded = open_page(browser, out)
    data = loaded.data()
    assert int(loaded.page.get_attribute("#map-canvas", "data-drawn")) == len(data["ids"]) == 30522
    assert data["width"] == 384  # exact cosines: the whole rows, as int8
    assert loaded.requests == [out.resolve().as_uri()] and loaded.console == []
    loaded.page.fill("#search", "king")
    loaded.page.press("#search", "Enter")
    assert loaded.page.get_attribute("#map-canvas", "data-highlighted") == "2332"
    marked = loaded.page.get_attribute("#map-canvas", "data-neighbours").split(",")
    exact = emb.json("neighbors", "2332", "--from", str(minilm_dir))["queries"][0]["results"]
    assert marked[:3] == [str(n["id"]) for n in exact[:3]]  # kings, queen, monarch
    assert len(set(marked) & {str(n["id"]) for n in exact}) >= 9
    loaded.page.close()


def test_existing_file_refused_without_force(emb: Any, hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("keep")
    r = emb("report", str(hostile), "-o", str(out))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"Error: --output {out} exists; pass --force to replace it\n"
    assert out.read_text() == "keep"
    emb("report", str(hostile), "-o", str(out), "--force", ok=True)
    assert out.read_text().startswith("<!doctype html>")


def test_never_writes_over_an_input(emb: Any, hostile: Path) -> None:
    before = (hostile / "config.json").read_bytes()
    r = emb("report", str(hostile), "-o", str(hostile / "config.json"), "--force")
    assert r.exit_code == 2
    assert "is an input file of this command" in r.stderr
    assert (hostile / "config.json").read_bytes() == before


def test_source_twice_refused(emb: Any, hostile: Path, tmp_path: Path) -> None:
    r = emb("report", str(hostile), "--from", str(hostile), "-o", str(tmp_path / "x.html"))
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: name the checkpoint either as SOURCE or with --from")
    assert not (tmp_path / "x.html").exists()


def test_built_table_page(emb: Any, tmp_path: Path) -> None:
    """No SOURCE: the default table (3,000 x 8, N(0, 0.02)), whose norms follow the curve."""
    out = tmp_path / "default.html"
    emb("report", "-o", str(out), ok=True)
    text = out.read_text()
    assert "the norms a row of N(0, 0.02) would have" in text
    assert "all 3,000 rows" in text


def test_llama3_like_page_shows_the_untrained_chat_template_rows(
    browser: Any, emb: Any, tmp_path: Path
) -> None:
    """Llama-3 base's failure: the chat template's rows are zero. The page says so in the
    verdicts (special fails, exit still 0: the page was written), the candidates and the map."""
    from tests.helpers.llama3_like import save_llama3_like

    model = save_llama3_like(tmp_path / "llama3-like")
    data = tmp_path / "train.txt"
    data.write_text("hello world\nParis is the capital of France.\n")
    out = tmp_path / "l3.html"
    r = emb("report", str(model), "-o", str(out), "--data", str(data), ok=True)
    assert "overall fail" in r.stderr
    check = emb("check", str(model), "--data", str(data), "--json")
    assert check.exit_code == 1
    expected = json.loads(check.stdout)
    assert "data" in [c["name"] for c in expected["checks"]]
    loaded = open_page(browser, out)
    verdicts = _verdicts(loaded)
    assert verdicts == [(c["name"], c["status"], c["summary"]) for c in expected["checks"]]
    assert ("special", "fail") in [(name, status) for name, status, _ in verdicts]
    data = loaded.data()
    kind_of = {t: data["kinds"][k] for t, k in zip(data["token"], data["kind"], strict=True)}
    assert kind_of["<|eot_id|>"] == kind_of["<|start_header_id|>"] == "zero row"
    assert kind_of["<|begin_of_text|>"] == "special"
    candidates = loaded.page.inner_text("#candidates")
    assert "<|eot_id|>" in candidates and "in the chat template" in candidates
    loaded.page.fill("#search", "<|eot_id|>")
    loaded.page.press("#search", "Enter")
    assert "a zero row has no direction" in loaded.page.inner_text("#search-result")
    assert loaded.console == [] and loaded.requests == [out.resolve().as_uri()]
    loaded.page.close()
