"""The health widget: plain-Python explorer and the ipywidgets view over it, no browser."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.health import health_summary
from dialpad_nb.samples import SAMPLE_ROUTERS, sample_attempts
from dialpad_nb.widgets.health import _SUMMARY_ROWS, HealthExplorer, _table_html, health_widget

SUPPORT, SALES = SAMPLE_ROUTERS["support"], SAMPLE_ROUTERS["sales"]


@pytest.fixture(scope="module")
def sample():
    return sample_attempts()


def test_explorer_starts_at_dialpads_numbers_and_compares_what_if(sample):
    attempts, patches = sample
    ex = HealthExplorer(attempts, patches=patches)
    assert ex.router_id == min(SUPPORT, SALES)
    assert ex.policy() == DIALPAD
    ex.deadline_s = 3.0
    ex.threshold = 5
    table = ex.compare()
    want = health_summary(
        attempts,
        router_id=ex.router_id,
        patches=patches,
        policy=DIALPAD.replace(deadline_s=3.0, error_threshold=5),
    )
    assert table.iloc[:, 1].tolist() == want.loc[list(_SUMMARY_ROWS)].tolist()
    assert table.columns[1] == "what-if (> 5 / 60 min, 3 s)"


def test_explorer_refuses_a_router_not_in_the_log(sample):
    with pytest.raises(ValueError, match="router_id"):
        HealthExplorer(sample[0], router_id=1)


def test_sliders_drive_the_explorer_and_rerender(sample):
    attempts, patches = sample
    w = health_widget(attempts, patches=patches)
    before_png = bytes(w.images["errors"].value)
    before_html = w.summary.value
    assert before_png.startswith(b"\x89PNG")
    w.threshold.value = 2
    assert w.explorer.threshold == 2 and w.explorer.policy().error_threshold == 2
    assert bytes(w.images["errors"].value) != before_png
    assert w.summary.value != before_html and "&gt; 2 / 60 min" in w.summary.value
    w.deadline.value = 3.0
    w.window.value = 30
    assert w.explorer.policy() == DIALPAD.replace(error_threshold=2, deadline_s=3.0, window_s=1800)
    assert repr(w) == f"HealthWidget(router_id={SUPPORT}, threshold=2, deadline_s=3, window_min=30)"


def test_router_picker_switches_the_summary(sample):
    attempts, patches = sample
    w = health_widget(attempts, patches=patches)
    calls_support = w.explorer.compare().loc["calls"].iloc[0]
    w.router.value = SALES
    assert w.explorer.router_id == SALES
    calls_sales = w.explorer.compare().loc["calls"].iloc[0]
    assert calls_sales == int((attempts["router_id"] == SALES).sum()) != calls_support
    assert f">{calls_sales:,.0f}<" in w.summary.value


def test_router_names_label_the_picker_and_the_error_chart(sample):
    attempts, patches = sample
    names = {SUPPORT: "Support hotline", SALES: "Sales line"}
    w = health_widget(attempts, patches=patches, router_names=names)
    assert w.router.options == tuple(
        sorted(
            [(f"Support hotline ({SUPPORT})", SUPPORT), (f"Sales line ({SALES})", SALES)], key=lambda o: o[1]
        )
    )
    assert w.router.value == w.explorer.router_id == min(SUPPORT, SALES)
    legend = w.explorer.figures()["errors"].axes[0].get_legend_handles_labels()[1]
    assert names[w.explorer.router_id] in legend and f"router {w.explorer.router_id}" not in legend
    w.router.value = SALES
    assert w.explorer.router_id == SALES
    assert "Sales line" in w.explorer.figures()["errors"].axes[0].get_legend_handles_labels()[1]


def test_without_names_the_picker_shows_ids(sample):
    w = health_widget(sample[0], patches=sample[1])
    assert [label for label, _ in w.router.options] == [str(r) for r in sorted((SUPPORT, SALES))]


def _reenable_lines(fig) -> list:
    ax = fig.axes[0]
    return [line for line in ax.get_lines() if line.get_color() == "#2ca02c"]


def test_each_router_shows_only_its_own_reenables(sample):
    attempts, patches = sample
    assert set(patches["router_id"]) == {SUPPORT}  # the sample's re-enables are all support's
    ex = HealthExplorer(attempts, patches=patches, router_names={SUPPORT: "support", SALES: "sales"})
    assert len(_reenable_lines(ex.figures()["errors"])) == len(patches)
    ex.router_id = SALES  # what the picker sets
    sales = ex.figures()["errors"]
    assert _reenable_lines(sales) == []
    assert not any("re-enabled" in label for label in sales.axes[0].get_legend_handles_labels()[1])
    assert sales.axes[0].get_title() == f"sales ({SALES}): errors in the last 60 min"


def test_the_what_if_table_reads_in_words(sample):
    attempts, patches = sample
    text = _table_html(HealthExplorer(attempts, patches=patches).compare())
    assert "never" not in text and "nan" not in text.lower() and "NaT" not in text
    assert "not on course to be disabled" in text  # the outlook at the end of the log, in words
    assert ">0.4%<" in text and ">184 ms<" in text  # shares in percent, latencies with their unit
    assert "at the end of the log" in text and "status at end of log" not in text


def test_the_charts_are_drawn_in_the_timezone_given(sample):
    attempts, patches = sample
    tz = "America/Los_Angeles"
    for fig in HealthExplorer(attempts, patches=patches, timezone=tz).figures().values():
        assert fig.axes[0].get_xlabel().startswith(f"time ({tz}, from ")
