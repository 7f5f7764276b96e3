"""The roll-up rule for every level outside a single cell."""

from btm.scoring.rollup import mean_level


def test_every_roll_up_outside_the_report_follows_its_half_up_rule() -> None:
    # float round() gives 2.2 for a mean of 2.25; the report's rule says 2.3
    assert mean_level([2, 2, 2, 3]) == 2.3
    assert mean_level([1, None, 2]) == 1.5 and mean_level([None]) is None
