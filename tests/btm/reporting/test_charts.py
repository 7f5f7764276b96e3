import io
import math
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from btm.reporting.charts import (
    PALETTE,
    Chart,
    ComparisonRow,
    comparison_chart,
    legend_chart,
    trend_chart,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BUDGET = 60_000  # bytes per chart; the whole email must stay under 300 KB

CYCLES = ["2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
AREAS = [
    "Governance & Organization",
    "Strategy & Planning",
    "Data & Analytics",
    "Technology Management",
]
BANDS = [
    ("1 Disaggregated", "#d73027", "1.0–1.4"),
    ("2 Emerging", "#fc8d59", "1.5–2.4"),
    ("3 Integrated", "#fee08b", "2.5–3.4"),
    ("4 Optimized", "#91cf60", "3.5–4.4"),
    ("5 Synergistic", "#1a9850", "4.5–5.0"),
]


def full_trend() -> dict[str, list[float | None]]:
    """8 cycles x 5 series (the enterprise and four areas), with a few gaps."""
    series: dict[str, list[float | None]] = {"Enterprise": [1.8, 1.9, 2.1, 2.1, 2.3, 2.4, 2.6, 2.7]}
    for offset, area in enumerate(AREAS):
        series[area] = [
            None if (i + offset) % 7 == 3 else round(1.2 + 0.25 * i + 0.3 * offset, 1)
            for i in range(len(CYCLES))
        ]
    return series


def seventeen_rows() -> list[ComparisonRow]:
    rows = [
        ComparisonRow(
            f"Capability {i} with a reasonably descriptive name",
            round(1 + (i * 0.23) % 4, 1),
            round(1.5 + (i * 0.17) % 3, 1),
            round(1 + (i * 0.11) % 1.5, 1),
            round(3 + (i * 0.13) % 2, 1),
        )
        for i in range(17)
    ]
    rows[4] = ComparisonRow("Not yet assessed", None, 2.4, None, None)
    return rows


def pixel_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (kind, length) == (b"IHDR", 13)
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def chunk_kinds(png: bytes) -> list[bytes]:
    kinds, at = [], 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        body = png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        kinds.append(kind)
        at += 12 + length
    return kinds


def rgb_pixels(chart: Chart) -> Image.Image:
    return Image.open(io.BytesIO(chart.png)).convert("RGB")


def colour_counts(chart: Chart) -> dict[str, int]:
    """Pixels of each exact colour, by hex."""
    colours = rgb_pixels(chart).getcolors(maxcolors=1 << 24)
    assert colours is not None
    counts = {}
    for n, rgb in colours:
        assert isinstance(rgb, tuple)
        counts["#{:02x}{:02x}{:02x}".format(*rgb)] = n
    return counts


CHARTS = {
    "trend": lambda width: trend_chart(CYCLES, full_trend(), target=3.0, title="T", width=width),
    "comparison": lambda width: comparison_chart(seventeen_rows(), title="C", width=width),
    "legend": lambda width: legend_chart(BANDS, width=width),
    "no data": lambda width: trend_chart([], {}, width=width),
}


@pytest.mark.parametrize("kind", CHARTS)
@pytest.mark.parametrize("width", [560, 240, 320, 800])
def test_the_png_is_twice_the_display_size(kind: str, width: int) -> None:
    chart = CHARTS[kind](width)
    assert chart.width == width
    assert pixel_size(chart.png) == (2 * chart.width, 2 * chart.height)
    with Image.open(io.BytesIO(chart.png)) as image:
        image.verify()


@pytest.mark.parametrize("kind", CHARTS)
def test_the_png_carries_no_metadata(kind: str) -> None:
    kinds = chunk_kinds(CHARTS[kind](560).png)
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert not {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"} & set(kinds)


def test_default_sizes() -> None:
    trend = trend_chart(CYCLES, full_trend(), target=3.0, title="Maturity by cycle")
    assert trend.width == 560 and 200 <= trend.height <= 280
    comparison = comparison_chart(seventeen_rows())
    assert comparison.height == pytest.approx(28 * 17 + 60, abs=20)
    assert legend_chart(BANDS).height == 48


@pytest.mark.parametrize("kind", CHARTS)
def test_the_same_input_gives_the_same_bytes(kind: str) -> None:
    assert CHARTS[kind](560).png == CHARTS[kind](560).png


def test_renders_in_threads_give_the_same_bytes() -> None:
    expected = CHARTS["trend"](560).png
    with ThreadPoolExecutor(max_workers=4) as pool:
        renders = list(pool.map(lambda _: CHARTS["trend"](560).png, range(4)))
    assert renders == [expected] * 4


def test_a_different_input_gives_different_bytes() -> None:
    series = full_trend()
    moved = {**series, "Enterprise": [*series["Enterprise"][:-1], 2.8]}
    assert trend_chart(CYCLES, series).png != trend_chart(CYCLES, moved).png
    assert trend_chart(CYCLES, series).png != trend_chart(CYCLES, series, target=3.0).png
    rows = seventeen_rows()
    assert comparison_chart(rows).png != comparison_chart([*rows[:-1], rows[0]]).png
    assert legend_chart(BANDS).png != legend_chart([*BANDS[:-1], ("5 Synergistic", "#000", "")]).png


def test_trend_alt_text_reads_out_every_number() -> None:
    chart = trend_chart(
        ["2025-Q4", "2026-Q1", "2026-Q2"],
        {"Enterprise": [2.1, 2.3, 2.25], "Governance & Organization": [1.8, None, 2.0]},
        target=3.0,
        title="Maturity by cycle",
    )
    assert chart.alt == (
        "Maturity by cycle. "
        "Enterprise maturity level by cycle: 2025-Q4 2.1, 2026-Q1 2.3, 2026-Q2 2.3; target 3.0. "
        "Governance & Organization: 2025-Q4 1.8, 2026-Q1 unknown, 2026-Q2 2.0."
    )  # 2.25 rounds half up, like the report's roll-ups


@pytest.mark.parametrize(
    ("row", "text"),
    [
        (
            ComparisonRow("Data & Analytics", 2.4, 2.7, 1.9, 3.1),
            "Data & Analytics: this unit 2.4, enterprise 2.7, other units 1.9–3.1.",
        ),
        (
            ComparisonRow("Not yet assessed", None, 2.0, None, None),
            "Not yet assessed: this unit unknown, enterprise 2.0, other units unknown.",
        ),
        (
            ComparisonRow("Only us", 3, None, None, None),
            "Only us: this unit 3.0, enterprise unknown, other units unknown.",
        ),
    ],
)
def test_comparison_alt_text_reads_out_every_row(row: ComparisonRow, text: str) -> None:
    chart = comparison_chart([ComparisonRow("First", 1.0, 1.5, 1.0, 2.0), row], title="Finance")
    assert chart.alt == (
        "Finance. First: this unit 1.0, enterprise 1.5, other units 1.0–2.0. " + text
    )


def test_comparison_labels_are_configurable() -> None:
    chart = comparison_chart(
        [ComparisonRow("Area", 2.0, 3.0, 1.5, 2.5)],
        value_label="Finance",
        reference_label="all units",
        range_label="peers",
    )
    assert chart.alt == "Area: Finance 2.0, all units 3.0, peers 1.5–2.5."


def test_legend_alt_text_lists_every_band() -> None:
    assert legend_chart(BANDS).alt == (
        "Colour key: 1 Disaggregated 1.0–1.4; 2 Emerging 1.5–2.4; 3 Integrated 2.5–3.4; "
        "4 Optimized 3.5–4.4; 5 Synergistic 4.5–5.0."
    )


def test_a_label_too_long_to_draw_is_whole_in_the_alt_text() -> None:
    label = "Enterprise Architecture Management and Portfolio Rationalisation " * 2
    chart = comparison_chart([ComparisonRow(label, 2.0, 2.0, 1.0, 3.0)])
    assert label in chart.alt
    assert pixel_size(chart.png) == (1120, 2 * chart.height)


def test_a_dollar_sign_is_drawn_as_text_not_maths() -> None:
    # As maths, this label would not parse and the drawing would fail.
    label = r"Spend $\frac{ per $ run"
    chart = trend_chart(["2026-Q1"], {label: [2.0]})
    assert chart.alt.startswith(label + " maturity level by cycle")


levels = st.none() | st.integers(10, 50).map(lambda tenths: tenths / 10)


@st.composite
def trends(draw: st.DrawFn) -> tuple[list[str], dict[str, list[float | None]]]:
    quarters = draw(st.lists(st.integers(0, 40), min_size=1, max_size=10, unique=True))
    cycles = [f"{2020 + q // 4}-Q{q % 4 + 1}" for q in sorted(quarters)]
    names = draw(
        st.lists(
            st.text("ABCdefg &$-/", min_size=1, max_size=24).filter(str.strip),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    series = {
        name: draw(st.lists(levels, min_size=len(cycles), max_size=len(cycles))) for name in names
    }
    return cycles, series


@settings(max_examples=20, deadline=None)
@given(trend=trends(), target=st.none() | levels)
def test_trend_alt_text_carries_every_cycle_series_and_value(
    trend: tuple[list[str], dict[str, list[float | None]]], target: float | None
) -> None:
    cycles, series = trend
    chart = trend_chart(cycles, series, target=target)
    assert pixel_size(chart.png) == (2 * chart.width, 2 * chart.height)
    if all(v is None for values in series.values() for v in values):
        assert chart.alt == "No data yet."
        return
    for index, (name, values) in enumerate(series.items()):
        heading = f"{name} maturity level by cycle: " if index == 0 else f"{name}: "
        points = ", ".join(
            f"{cycle} {'unknown' if v is None else f'{v:.1f}'}"
            for cycle, v in zip(cycles, values, strict=True)
        )
        assert heading + points in chart.alt
    if target is not None:
        assert f"; target {target:.1f}." in chart.alt
    else:
        assert "target" not in chart.alt


def test_the_charts_fit_the_email_budget() -> None:
    charts = [
        trend_chart(CYCLES, full_trend(), target=3.0, title="Maturity by cycle"),
        comparison_chart(seventeen_rows(), title="Finance against the enterprise"),
        legend_chart(BANDS),
    ]
    assert len(full_trend()) == 5 and len(seventeen_rows()) == 17
    for chart in charts:
        assert len(chart.png) < BUDGET, (chart.name, len(chart.png))


def test_the_trend_draws_every_series_in_its_colour() -> None:
    counts = colour_counts(trend_chart(CYCLES, full_trend(), target=3.0))
    assert len(counts) > 2
    for colour in PALETTE[:5]:
        assert counts.get(colour, 0) > 300, colour
    # the enterprise line is drawn thicker than any area's
    assert all(counts[PALETTE[0]] > 1.5 * counts[colour] for colour in PALETTE[1:5])


def test_the_trend_uses_colours_passed_in() -> None:
    series: dict[str, list[float | None]] = {"E": [2.0, 2.5, 3.0], "A": [1.0, 1.5, 2.0]}
    counts = colour_counts(trend_chart(CYCLES[:3], series, colors=["#aa0000", "#00aa00"]))
    assert counts.get("#aa0000", 0) > 300 and counts.get("#00aa00", 0) > 300


def test_a_gap_leaves_no_line_between_its_neighbours() -> None:
    whole = colour_counts(trend_chart(CYCLES[:3], {"E": [2.0, 2.0, 2.0]}))
    gapped = colour_counts(trend_chart(CYCLES[:3], {"E": [2.0, None, 2.0]}))
    assert gapped[PALETTE[0]] < 0.5 * whole[PALETTE[0]]


@pytest.mark.parametrize("colour", ["#0b4f8a", "#8a0b4f"])
def test_the_comparison_bars_are_a_tint_of_the_colour_passed_in(colour: str) -> None:
    counts = colour_counts(comparison_chart(seventeen_rows(), color=colour))
    background, fill = sorted(counts, key=counts.__getitem__, reverse=True)[:2]
    assert background == "#ffffff"
    # fill = white - strength * (white - colour), the same strength in every channel
    strengths = [
        (255 - int(fill[i : i + 2], 16)) / (255 - int(colour[i : i + 2], 16)) for i in (1, 3, 5)
    ]
    assert 0.2 < strengths[0] < 0.8
    assert max(strengths) - min(strengths) < 0.02


def test_the_legend_draws_every_swatch() -> None:
    counts = colour_counts(legend_chart(BANDS))
    for _, colour, _ in BANDS:
        assert counts.get(colour, 0) > 2000, colour


@pytest.mark.parametrize(
    "chart",
    [
        lambda: trend_chart([], {}),
        lambda: trend_chart(CYCLES, {}),
        lambda: trend_chart([], {"Enterprise": []}),
        lambda: trend_chart(CYCLES[:2], {"Enterprise": [None, None]}, target=3.0),
        lambda: comparison_chart([]),
        lambda: legend_chart([]),
    ],
)
def test_no_data_renders_a_chart_that_says_so(chart: Callable[[], Chart]) -> None:
    rendered = chart()
    assert rendered.alt == "No data yet."
    assert pixel_size(rendered.png) == (2 * rendered.width, 2 * rendered.height)
    assert len(colour_counts(rendered)) > 2  # the words


def test_no_data_keeps_the_title() -> None:
    assert trend_chart([], {}, title="Maturity by cycle").alt == "Maturity by cycle: no data yet."


@pytest.mark.parametrize("value", [0.5, 5.1, -1.0, math.nan, math.inf])
def test_a_trend_level_outside_1_to_5_is_refused(value: float) -> None:
    with pytest.raises(
        ValueError, match=r"'Strategy & Planning'.*2025-Q1.*is not a level"
    ) as raised:
        trend_chart(
            CYCLES[:3], {"Enterprise": [2.0, 2.0, 2.0], "Strategy & Planning": [2.0, 2.0, value]}
        )
    assert repr(value) in str(raised.value)


def test_decimal_roll_ups_are_taken_as_levels() -> None:
    roll_ups: Any = {"Enterprise": [Decimal("2.1"), None]}  # as the report computes them
    target: Any = Decimal("3.0")
    as_decimals = trend_chart(["2026-Q1", "2026-Q2"], roll_ups, target=target)
    as_floats = trend_chart(["2026-Q1", "2026-Q2"], {"Enterprise": [2.1, None]}, target=3.0)
    assert as_decimals == as_floats
    no_level: Any = True
    with pytest.raises(ValueError, match="is not a level"):
        trend_chart(["2026-Q1"], {"Enterprise": [no_level]})


def test_a_target_outside_1_to_5_is_refused() -> None:
    with pytest.raises(ValueError, match=r"target: 6\.0 is not a level"):
        trend_chart(CYCLES[:1], {"Enterprise": [2.0]}, target=6.0)


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'Enterprise' has 2 values for 3 cycles"):
        trend_chart(CYCLES[:3], {"Enterprise": [2.0, 2.0]})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (ComparisonRow("Data", 0.0, 2.0, 1.0, 3.0), r"row 'Data' value: 0.0 is not a level"),
        (ComparisonRow("Data", 2.0, 9.0, 1.0, 3.0), r"row 'Data' reference: 9.0 is not a level"),
        (ComparisonRow("Data", 2.0, 2.0, 1.0, None), r"row 'Data': give both low and high"),
        (ComparisonRow("Data", 2.0, 2.0, 3.0, 1.0), r"row 'Data': low 3.0 is above high 1.0"),
    ],
)
def test_a_bad_comparison_row_is_refused(row: ComparisonRow, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        comparison_chart([row])


def test_a_bad_colour_or_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"band '1 Disaggregated': 'reddish' is not a colour"):
        legend_chart([("1 Disaggregated", "reddish", "1.0–1.4")])
    with pytest.raises(ValueError, match="Content-ID"):
        trend_chart(CYCLES[:1], {"E": [2.0]}, name="trend chart")


def test_rendering_never_imports_pyplot() -> None:
    script = (
        "import sys\n"
        "from btm.reporting.charts import (\n"
        "    ComparisonRow, comparison_chart, legend_chart, trend_chart\n"
        ")\n"
        "trend_chart(['2026-Q1'], {'Enterprise': [2.0]}, target=3.0)\n"
        "comparison_chart([ComparisonRow('A', 2.0, 3.0, 1.0, 4.0)])\n"
        "legend_chart([('1 Disaggregated', '#d73027', '1.0–1.4')])\n"
        "trend_chart([], {})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
