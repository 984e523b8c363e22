from kerasopt.timing import trace_seconds


def test_trace_seconds_is_the_first_steps_excess_over_the_median_of_the_rest():
    assert trace_seconds([5.0, 1.0, 3.0, 1.0]) == 4.0
    assert trace_seconds([0.5, 1.0, 1.0]) == 0.0  # never negative
    assert trace_seconds([5.0]) == trace_seconds([]) == 0.0
