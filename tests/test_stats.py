from tl_core.stats import clearly_above, half_width, wilson_interval


def test_wilson_interval_is_inside_unit_range_and_shrinks_with_n():
    lo, hi = wilson_interval(1.0, 20)
    assert 0.8 < lo < 1.0 and hi == 1.0
    assert half_width(0.8, 1000) < half_width(0.8, 100) < half_width(0.8, 10)
    assert wilson_interval(0.5, 0) == (0.0, 1.0)


def test_clearly_above_separates_chance_from_a_real_gain():
    assert not clearly_above(0.55, 0.5, 60)  # 60 rows cannot tell 55% from a coin
    assert clearly_above(0.85, 0.5, 60)
    assert clearly_above(0.55, 0.5, 5000)
