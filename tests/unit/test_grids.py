import numpy as np
import pytest

from walker_tui.core.grid import MAX_RATES, GridError, format_rate, parse_lrs


def test_arange_is_numpys_with_stop_excluded():
    # numpy's values, to the 12 digits a user writes (arange's float64 noise dropped)
    assert np.allclose(parse_lrs("0.1:1:0.1"), np.arange(0.1, 1, 0.1), rtol=1e-12, atol=0)
    assert len(parse_lrs("0.1:1:0.1")) == 9


def test_list_and_linspace_and_log():
    assert parse_lrs("0.1, 0.5,0.9") == [0.1, 0.5, 0.9]
    assert np.allclose(parse_lrs("lin:0.1:1:7"), np.linspace(0.1, 1, 7), rtol=1e-12, atol=0)
    assert parse_lrs("lin:0.1:1:7")[-1] == 1.0
    assert np.allclose(parse_lrs("log:0.01:1:9"), np.geomspace(0.01, 1, 9))
    assert parse_lrs("lin:0.5:0.5:1") == [0.5]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", "empty"),
        ("abc", "not a number"),
        ("0.1,,0.2", "empty item"),
        ("nan", "not finite"),
        ("0.1,inf", "not finite"),
        ("0", "not positive"),
        ("-0.1,0.2", "not positive"),
        ("1:0.1:0.1", "yields no rate"),
        ("0.1:1:0", "step"),
        ("log:0:1:5", "cannot touch 0"),
        ("lin:-1:1:5", "not positive"),
        ("lin:0.1:1:0", "at least 1"),
        ("lin:0.1:1:x", "whole number"),
        (f"lin:0.1:1:{MAX_RATES + 1}", f"limit of {MAX_RATES}"),
        ("1e-9:1:1e-9", f"limit of {MAX_RATES}"),
        ("lin:0.1:1", "start:stop:num"),
    ],
)
def test_bad_grids_name_the_problem(spec, words):
    with pytest.raises(GridError, match=words):
        parse_lrs(spec)


def test_rate_labels():
    rates = parse_lrs("0.1:1:0.1")
    assert format_rate(rates[2], rates) == "0.30"
    fine = parse_lrs("0.001,0.002,0.0025")
    assert len({format_rate(r, fine) for r in fine}) == 3


def test_rates_are_kept_as_written():
    # numpy's arange gives 0.30000000000000004; the user wrote 0.1:1:0.1, and records say 0.3
    assert parse_lrs("0.1:1:0.1")[2] == 0.3
    assert parse_lrs("log:0.001:10:5") == [0.001, 0.01, 0.1, 1.0, 10.0]
