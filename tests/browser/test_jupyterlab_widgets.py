"""The widgets in a real JupyterLab 4, in a real (headless) Chromium, used like a person would.

Each test opens a committed notebook (a temp copy), runs it from the Run menu, then clicks and
types into the rendered widget and asserts on the text JupyterLab renders
(``.widget-html`` / ``.widget-label`` / inputs). The unit tests drive the same widgets from
Python; these prove the browser side renders them and that every interaction reaches the
kernel and comes back. Fixtures: ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from dialpad_nb.core.policy import DIALPAD

from .conftest import REPO, RUN_ALL_TIMEOUT_MS, LabPage

# Playwright's own timeouts (conftest: one UI step, a whole notebook) fire first with a clear
# message; the pytest-timeout limit only has to stay above them on a loaded 2-core machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

DATA = REPO / "data"
MANAGE_ROUTERS = "01_manage_routers.ipynb"
SHORT_SECRET = "short-but-not-32"  # 16 characters
GOOD_SECRET = "browser-test-secret-0123456789-abcdef"  # fictional, >= 32 characters


# --------------------------------------------------------------------------- the router console


def _router_console(nb: Any) -> Any:
    """The console the notebook's last cell renders, once this run has created 'Returns line'."""
    console = nb.locator(".jp-OutputArea-output .dpnb-console")
    expect(console).to_be_visible(timeout=RUN_ALL_TIMEOUT_MS)
    expect(_status(console)).to_contain_text("Created router 'Returns line'", timeout=RUN_ALL_TIMEOUT_MS)
    return console


def _status(console: Any) -> Any:
    return console.locator(":scope > .widget-html").nth(0)


def _table(console: Any) -> Any:
    return console.locator(":scope > .widget-html").nth(1)


def _table_row(console: Any, name: str) -> Any:
    """The routers table's row whose name cell is exactly ``name``."""
    return (
        _table(console)
        .locator("tbody tr")
        .filter(has=console.page.locator("td:nth-child(2)", has_text=re.compile(rf"^{re.escape(name)}$")))
    )


def _column(console: Any, row: Any, column: str) -> Any:
    """One cell of a table row, by column name (the table's own header decides the position)."""
    headers = [h.strip() for h in _table(console).locator("thead th").all_inner_texts()]
    return row.locator("td").nth(headers.index(column))


def _open_tab(console: Any, title: str) -> Any:
    """Click one of the forms' tabs; return the visible tab page."""
    console.get_by_role("tab", name=title, exact=True).click()
    page = console.locator(".widget-tab-contents > :not(.lm-mod-hidden)")
    expect(page).to_have_count(1)
    return page


def _field_row(form: Any, label: str) -> Any:
    """A form row: the field with this label and the inline error label next to it."""
    return form.locator(":scope > .widget-hbox").filter(has=form.page.get_by_label(label, exact=True))


def _cut_off_buttons(widget: Any) -> list[str]:
    """Visible buttons whose label does not fit (the browser shows it cut, with an ellipsis)."""
    return widget.locator("button.jupyter-button:visible").evaluate_all(
        "buttons => buttons.filter(b => b.scrollWidth > b.clientWidth).map(b => b.textContent.trim())"
    )


def _overflowing_boxes(widget: Any) -> list[str]:
    """Visible boxes whose content is wider than the box: the rest is cut off or painted over by
    the next widget (a dropdown's arrow, a slider's value readout...)."""
    return widget.locator(".widget-box:visible").evaluate_all(
        """boxes => boxes.filter(b => b.scrollWidth > b.clientWidth + 1).map(b =>
            `${(b.className.match(/widget-[hv]box|widget-tab/) || ['widget-box'])[0]} ${b.clientWidth}px showing `
            + `${b.scrollWidth}px: ${b.innerText.trim().split('\\n')[0].slice(0, 40)}`)"""
    )


def _select_router(console: Any, name: str) -> None:
    selector = console.get_by_label("Router", exact=True)
    value = selector.locator(f"option[value^='{name} (']").get_attribute("value")
    selector.select_option(value=value)
    expect(selector).to_have_value(value)


def test_console_create_form_shows_inline_errors_then_the_new_router_appears_and_takes_a_number(
    lab: LabPage,
) -> None:
    console = _router_console(lab.run_all(MANAGE_ROUTERS))
    status = _status(console)
    expect(_table(console)).not_to_contain_text("Billing line")

    form = _open_tab(console, "Create")
    form.get_by_label("Name", exact=True).fill("Billing line")
    form.get_by_label("Routing URL", exact=True).fill("https://routing.harborpine.example/billing")
    form.get_by_label("Default target", exact=True).fill("Billing")
    form.get_by_label("Secret", exact=True).fill(SHORT_SECRET)
    form.get_by_role("button", name="Create router", exact=True).click()

    # a short secret: refused inline, next to the field, and nothing is created
    expect(_field_row(form, "Secret")).to_contain_text(
        f"must be at least {DIALPAD.min_secret_length} characters (got {len(SHORT_SECRET)})"
    )
    expect(status).to_contain_text("Not sent: 1 field(s) to fix.")
    expect(status).to_contain_text("secret")
    for other in ("Name", "Routing URL", "Default target"):
        expect(_field_row(form, other).locator(".widget-html")).to_have_text("")
    expect(_table(console)).not_to_contain_text("Billing line")

    # fix the secret only: the rest of the form was kept
    expect(form.get_by_label("Name", exact=True)).to_have_value("Billing line")
    form.get_by_label("Secret", exact=True).fill(GOOD_SECRET)
    form.get_by_role("button", name="Create router", exact=True).click()

    expect(status).to_contain_text("Created router 'Billing line'")
    expect(status).to_contain_text("default target Billing (department)")
    row = _table_row(console, "Billing line")
    expect(row).to_have_count(1)
    expect(_column(console, row, "routing_url")).to_have_text("https://routing.harborpine.example/billing")
    expect(_column(console, row, "default_target")).to_have_text("Billing (department)")
    expect(_column(console, row, "enabled")).to_have_text("True")
    expect(_column(console, row, "signed")).to_have_text("True")
    expect(_table_row(console, "Returns line")).to_have_count(1)
    # the error is gone, the form is cleared for the next one, the new router is selected
    expect(_field_row(form, "Secret").locator(".widget-html")).to_have_text("")
    expect(form.get_by_label("Name", exact=True)).to_have_value("")
    expect(form.get_by_label("Secret", exact=True)).to_have_value("")
    expect(console.get_by_label("Router", exact=True)).to_have_value(re.compile(r"^Billing line \(\d+\)$"))
    # neither secret is ever rendered
    expect(console).not_to_contain_text(GOOD_SECRET)
    expect(console).not_to_contain_text(SHORT_SECRET)

    # give the new router a number (Numbers tab), see it in the table, take it back
    numbers = _open_tab(console, "Numbers")
    numbers.get_by_label("Area code", exact=True).fill("415")
    numbers.get_by_role("button", name="Assign number", exact=True).click()
    assigned_text = re.compile(r"Assigned (\+\d{8,15}) to router 'Billing line'")
    expect(status).to_contain_text(assigned_text)
    assigned = assigned_text.search(status.inner_text()).group(1)
    expect(_column(console, row, "numbers")).to_have_text(assigned)
    expect(numbers.get_by_label("Number", exact=True)).to_have_value(assigned)
    expect(numbers.get_by_label("Area code", exact=True)).to_have_value("")
    numbers.get_by_role("button", name="Unassign", exact=True).click()
    expect(status).to_contain_text(f"Unassigned {assigned}")
    expect(_column(console, row, "numbers")).to_have_text("")
    expect(numbers.get_by_role("button", name="Unassign", exact=True)).to_be_disabled()

    # the Edit form refuses a bad URL and keeps everything typed, the field marked beside its message
    edit = _open_tab(console, "Edit")
    edit.get_by_label("Name", exact=True).fill("Billing line (EMEA)")
    url = edit.get_by_label("Routing URL", exact=True)
    url.fill("ftp://nope")
    edit.get_by_role("button", name="Save (one update)", exact=True).click()
    expect(status).to_contain_text("Not sent: 1 field(s) to fix.")
    expect(_field_row(edit, "Routing URL")).to_contain_text("'ftp://nope' is not an absolute http(s) URL")
    expect(url).to_have_value("ftp://nope")  # it reverted to the router's URL before
    expect(edit.get_by_label("Name", exact=True)).to_have_value("Billing line (EMEA)")
    assert url.evaluate("el => getComputedStyle(el).borderTopColor") == "rgb(180, 35, 24)"  # marked red
    assert edit.get_by_label("Name", exact=True).evaluate("el => getComputedStyle(el).borderTopColor") != (
        "rgb(180, 35, 24)"
    )
    expect(_column(console, row, "routing_url")).to_have_text("https://routing.harborpine.example/billing")
    # fixed: one update sends both, and the form shows the router as it is now
    url.fill("https://routing.harborpine.example/billing-v2")
    edit.get_by_role("button", name="Save (one update)", exact=True).click()
    expect(status).to_contain_text("Updated name, routing_url of router 'Billing line (EMEA)'")
    expect(_field_row(edit, "Routing URL").locator(".widget-html")).to_have_text("")
    expect(_column(console, _table_row(console, "Billing line (EMEA)"), "routing_url")).to_have_text(
        "https://routing.harborpine.example/billing-v2"
    )
    console.scroll_into_view_if_needed()
    assert lab.errors == []


def test_console_select_disable_patch_guard_then_delete(lab: LabPage) -> None:
    console = _router_console(lab.run_all(MANAGE_ROUTERS))
    status = _status(console)

    # a second router, so there is something to choose between
    form = _open_tab(console, "Create")
    form.get_by_label("Name", exact=True).fill("Billing line")
    form.get_by_label("Routing URL", exact=True).fill("https://routing.harborpine.example/billing")
    form.get_by_label("Default target", exact=True).fill("Billing")
    form.get_by_role("button", name="Create router", exact=True).click()
    expect(status).to_contain_text("Created router 'Billing line'")
    expect(_column(console, _table_row(console, "Billing line"), "signed")).to_have_text("False")

    # every action button's label is readable in full, nothing is cut off
    assert _cut_off_buttons(console) == []
    assert _overflowing_boxes(console) == []

    # select 'Returns line': the edit form follows the selection
    _select_router(console, "Returns line")
    edit = _open_tab(console, "Edit")
    expect(edit.get_by_label("Name", exact=True)).to_have_value("Returns line")
    expect(edit.get_by_label("Routing URL", exact=True)).to_have_value(
        "https://routing.harborpine.example/returns"
    )

    console.get_by_role("button", name="Disable", exact=True).click()
    expect(status).to_contain_text("Disabled router 'Returns line'")
    expect(_column(console, _table_row(console, "Returns line"), "enabled")).to_have_text("False")
    expect(_column(console, _table_row(console, "Billing line"), "enabled")).to_have_text("True")

    # the PATCH guard: a second update within the interval is refused before it is sent
    console.get_by_role("button", name="Enable", exact=True).click()
    expect(status).to_contain_text("Nothing was sent")
    expect(status).to_contain_text(f"one update per router every {DIALPAD.patch_interval_s // 60:g} min")
    expect(_column(console, _table_row(console, "Returns line"), "enabled")).to_have_text("False")

    # editing the URL of the disabled router warns, before anything is sent
    edit.get_by_label("Routing URL", exact=True).fill("https://routing.harborpine.example/returns-v2")
    expect(edit).to_contain_text("Router 'Returns line' is disabled. Changing its URL without enabling it")

    # delete: the button stays disabled until the router's exact name is typed
    delete = _open_tab(console, "Delete")
    delete_button = delete.get_by_role("button", name="Delete router", exact=True)
    expect(delete_button).to_be_disabled()
    delete.get_by_label("Type its name", exact=True).fill("Returns")
    expect(delete_button).to_be_disabled()
    delete.get_by_label("Type its name", exact=True).fill("Returns line")
    expect(delete_button).to_be_enabled()
    delete_button.click()
    expect(status).to_contain_text("Deleted router 'Returns line'")
    expect(_table_row(console, "Returns line")).to_have_count(0)
    expect(_table_row(console, "Billing line")).to_have_count(1)
    expect(console.get_by_label("Router", exact=True).locator("option")).to_have_count(1)
    expect(console.get_by_label("Router", exact=True)).to_have_value(re.compile(r"^Billing line \(\d+\)$"))
    console.scroll_into_view_if_needed()
    assert lab.errors == []


# --------------------------------------------------------------------------- the replay widget

REPLAY = "02_replay_candidate_rules.ipynb"
TZ = "America/Los_Angeles"  # as in notebook 02


@pytest.fixture(scope="module")
def replay_session() -> Any:
    """The notebook's replay inputs, in this process: what the browser must show is computed here."""
    from dialpad_nb.rules.enrich import Enrichment
    from dialpad_nb.rules.ruleset import load_matrix
    from dialpad_nb.samples import generate as datagen
    from dialpad_nb.samples.company import all_targets
    from dialpad_nb.widgets.replay import ReplaySession

    directory = all_targets()
    crm = Enrichment.from_csv(DATA / "crm_contacts.csv")
    current = load_matrix(DATA / "routing_current.csv", timezone=TZ, directory=directory, warn=False)
    return ReplaySession(
        DATA,
        secret=datagen.SAMPLE_SECRET,
        crm=crm,
        current=current.with_enrichment(crm),
        capacity=DATA / "capacity.csv",
        timezone=TZ,
        directory=directory,
    )


def _ran(provenance: Any, label: str) -> Any:
    """A value of the 'what was run' table under a replay result."""
    row = provenance.locator("tr").filter(
        has=provenance.page.locator("th", has_text=re.compile(f"^{label}$"))
    )
    return row.locator("td")


def test_replay_widget_says_what_produced_each_result_and_greys_it_once_stale(
    lab: LabPage, replay_session: Any
) -> None:
    candidate = (DATA / "routing_candidate.csv").read_text(encoding="utf-8")
    log = next(iter(replay_session.logs))

    def summary_of(text: str, label: str) -> str:
        rules = replay_session.check(text, name=label).rules
        return str(replay_session.run(log, "current", rules).summary)

    before = summary_of(candidate, "routing_candidate.csv")
    bad = candidate.replace("5002000000000204,callcenter,VIP Desk", "5002000000009999,callcenter,VIP Desk")
    (problem,) = replay_session.check(bad).problems
    edited = "".join(line for line in candidate.splitlines(keepends=True) if not line.startswith("winback,"))
    edited_label = "edited routing_candidate.csv (1 row removed)"
    after = summary_of(edited, edited_label)
    assert before.startswith("routing_candidate.csv vs routing_current: 3,115 of 24,000 calls")
    assert after.startswith(f"{edited_label} vs routing_current: 2,676 of 24,000 calls")

    nb = lab.run_all(REPLAY)
    widget = nb.locator(".jp-OutputArea-output .widget-vbox").filter(
        has=lab.page.get_by_role("button", name="Run replay")
    )
    expect(widget).to_have_count(1, timeout=RUN_ALL_TIMEOUT_MS)
    # the one-line result, found by what it says (not by class), so the label is what is checked
    status = widget.locator(".widget-html").filter(has_text=re.compile(r" vs routing_current: [\d,]+ of "))
    provenance = widget.locator(".dpnb-provenance")
    problems = widget.locator(".dpnb-problems")
    banner = widget.locator(".dpnb-stale-banner")
    results = widget.locator(".dpnb-replay-result")
    summary = widget.locator(".dpnb-summary")
    expect(status).to_have_text(before, timeout=RUN_ALL_TIMEOUT_MS)  # the notebook's own Run
    expect(_ran(provenance, "Candidate")).to_have_text("routing_candidate.csv")
    expect(_ran(provenance, "Hours read in")).to_have_text("America/Los_Angeles (given)")
    expect(widget.locator(".dpnb-timezone")).to_have_text(
        "Hours and days are read in America/Los_Angeles (given)."
    )
    run = widget.get_by_role("button", name="Run replay")
    assert _cut_off_buttons(widget) == []
    assert _overflowing_boxes(widget) == []
    editor = widget.get_by_label("Candidate", exact=True)
    expect(editor).to_have_value(candidate)
    expect(banner).to_have_text("")

    # an unknown target: the problem shows under the editor, naming row and column; Run is off;
    # the result below no longer matches the inputs: greyed, and a banner says why
    editor.fill(bad)
    editor.blur()  # the editor syncs on change (continuous_update=False)
    expect(problems).to_contain_text(problem)
    expect(run).to_be_disabled()
    expect(banner).to_contain_text("Out of date: the candidate was edited (1 row changed) since this result")
    expect(banner).to_contain_text("The candidate does not load now")
    expect(results).to_have_class(re.compile(r"\bdpnb-stale\b"))
    assert float(summary.evaluate("el => getComputedStyle(el).opacity")) < 0.5  # greyed
    assert float(banner.evaluate("el => getComputedStyle(el).opacity")) == 1.0  # the banner is not
    expect(status).to_have_text(before)  # still there, but marked as not current
    lab.snap(widget, "stale-invalid")

    # drop the 'winback' rule: valid again but not yet run, so still stale; Run, and the result
    # says it came from an edited candidate
    editor.fill(edited)
    editor.blur()
    expect(problems).not_to_contain_text("is not in the directory")
    expect(banner).to_contain_text("the candidate was edited (1 row removed)")
    expect(run).to_be_enabled()
    run.click()
    expect(status).to_have_text(after)
    expect(banner).to_have_text("")
    expect(results).not_to_have_class(re.compile(r"\bdpnb-stale\b"))
    expect(_ran(provenance, "Candidate")).to_have_text(edited_label)
    expect(_ran(provenance, "Run")).to_have_text("2")
    expect(summary).to_contain_text(f"Replay: {edited_label} vs routing_current")
    expect(summary).to_contain_text("24,000")
    charts = results.locator(".widget-image")
    expect(charts).to_have_count(3)
    for i in range(3):
        assert charts.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), f"chart {i} is blank"
    lab.snap(widget, "after-edit")
    assert _overflowing_boxes(widget) == []
    assert lab.errors == []


# --------------------------------------------------------------------------- the health widget

HEALTH = "03_error_rates_and_latency.ipynb"


REENABLE_GREEN = (0x2C, 0xA0, 0x2C)  # the re-enable verticals of error_window_chart


def _pixels_of(image: Any, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of a rendered image are (about) this colour, counted in the browser."""
    return image.evaluate(  # the bytes the img shows now (its src), decoded: not a half-loaded frame
        """async (img, [r, g, b, tol]) => {
            const bitmap = await createImageBitmap(await (await fetch(img.src)).blob());
            const canvas = document.createElement('canvas');
            canvas.width = bitmap.width; canvas.height = bitmap.height;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(bitmap, 0, 0);
            const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (Math.abs(d[i] - r) <= tol && Math.abs(d[i + 1] - g) <= tol && Math.abs(d[i + 2] - b) <= tol) n++;
            }
            return n;
        }""",
        [*rgb, tolerance],
    )


def test_health_widget_slider_moves_the_what_if_and_each_router_shows_only_its_reenables(
    lab: LabPage,
) -> None:
    from dialpad_nb.health import infer_patches
    from dialpad_nb.health.attempts import read_attempts_csv
    from dialpad_nb.samples import SAMPLE_ROUTERS
    from dialpad_nb.widgets.health import HealthExplorer

    attempts = read_attempts_csv(DATA / "attempts_sample.csv", source="sample").attempts
    explorer = HealthExplorer(attempts, patches=infer_patches(attempts))
    default = explorer.compare()
    explorer.threshold += 1  # what one press of → on the slider asks for
    moved = explorer.compare()
    assert moved.iloc[:, 1].to_dict() != default.iloc[:, 1].to_dict()  # else the test proves nothing

    nb = lab.run_all(HEALTH)
    widget = nb.locator(".jp-OutputArea-output .widget-vbox").filter(
        has=lab.page.locator("table.dpnb-health")
    )
    expect(widget).to_have_count(1, timeout=RUN_ALL_TIMEOUT_MS)
    table = widget.locator("table.dpnb-health")

    def expect_table(expected: Any) -> None:
        expect(table.locator("tr").first).to_contain_text(expected.columns[1])
        for label in ("requests made", "errors", "auto-disables"):
            row = table.locator("tr").filter(has=lab.page.locator("th", has_text=re.compile(f"^{label}$")))
            expect(row.locator("td")).to_have_text([f"{v:,}" for v in expected.loc[label]])

    expect_table(default)
    # the controls keep their width: the router dropdown and the sliders' values are not cut off
    assert _overflowing_boxes(widget) == []
    slider = widget.locator(".widget-slider").filter(has=lab.page.get_by_text("Disable when errors >"))
    expect(slider.locator(".widget-readout")).to_have_text(str(explorer.threshold - 1))
    errors_chart = widget.locator(".widget-image").first
    drawn = errors_chart.get_attribute("src")
    slider.locator(".noUi-handle").focus()
    slider.locator(".noUi-handle").press("ArrowRight")
    expect(slider.locator(".widget-readout")).to_have_text(str(explorer.threshold))
    expect_table(moved)
    expect(errors_chart).not_to_have_attribute("src", drawn or "")  # redrawn for the new threshold

    # pick 'sales': its error chart shows no re-enable (support's two are not drawn on it)
    assert _pixels_of(errors_chart, REENABLE_GREEN) > 0  # support's re-enables, dashed and dotted
    shown = errors_chart.get_attribute("src")
    picker = widget.get_by_label("Router", exact=True)
    picker.select_option(label=f"sales ({SAMPLE_ROUTERS['sales']})")
    expect(errors_chart).not_to_have_attribute("src", shown or "")
    expect(
        table.locator("tr").filter(has=lab.page.locator("th", has_text=re.compile("^calls$")))
    ).to_contain_text(f"{int((attempts['router_id'] == SAMPLE_ROUTERS['sales']).sum()):,}")
    assert _pixels_of(errors_chart, REENABLE_GREEN) == 0
    lab.snap(widget, "sales")

    # the notebook's latency chart: timeouts above the deadline, counted; San Francisco time
    latency = nb.locator(".jp-Cell").filter(has_text='title="Tuesday: support latency"')
    lab.snap(latency.locator(".jp-OutputArea-output img"), "latency-chart")

    # its tables fit the page (the what-if table with first_disable was cut off at the right)
    tables = nb.locator(".jp-OutputArea-output table.dpnb-table")
    expect(tables).to_have_count(6)
    too_wide = tables.evaluate_all(
        """ts => ts.filter(t => t.getBoundingClientRect().width > t.closest('.jp-OutputArea-output').clientWidth)
                  .map(t => t.innerText.split('\\n')[0])"""
    )
    assert too_wide == []
    what_if = tables.filter(has_text="first disable").first
    expect(what_if).to_contain_text("not disabled")
    assert lab.errors == []
