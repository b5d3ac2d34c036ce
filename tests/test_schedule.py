"""The learning-rate schedule: every curve and feedback rule at its boundaries, and its checkpointed state.

Values are written out from the definitions (He et al. 2015 for the step decay, the ResNet-110 warm-up and
the plateau rule; Loshchilov & Hutter for cosine; Huang et al. 2017 for the cycles), so a changed constant,
comparison or off-by-one fails here. Mutation testing (docs/testing.md) runs this file against schedule.py.
"""

from __future__ import annotations

import math

import pytest

from resreg.schedule import Schedule


def test_step_schedule_divides_at_milestones():
    s = Schedule(lr=0.1, total_steps=64000, milestones=[32000, 48000])
    assert [s.lr_at(i) for i in (0, 31999, 32000, 47999, 48000, 63999)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )


def test_the_step_factor_is_gamma():
    s = Schedule(lr=1.0, total_steps=10, milestones=[2, 4], gamma=0.5)
    assert [s.lr_at(i) for i in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_warmup_lr_holds_until_the_training_error_falls_below_the_threshold():
    s = Schedule(lr=0.1, total_steps=100, warmup_lr=0.01, warmup_until_error=0.8)
    s.observe_train(0.85)
    assert s.lr_at(50) == 0.01 and s.warming
    s.observe_train(0.8)  # at the threshold is not below it
    assert s.lr_at(50) == 0.01
    s.observe_train(0.79)
    assert s.lr_at(50) == 0.1 and not s.warming
    s.observe_train(0.95)  # once over, the warm-up never comes back
    assert s.lr_at(50) == 0.1


def test_without_warmup_lr_the_training_error_changes_nothing():
    s = Schedule(lr=0.1, total_steps=100)
    assert s.lr_at(0) == 0.1
    s.observe_train(0.99)
    assert s.lr_at(0) == 0.1


def test_plateau_divides_after_patience_and_state_round_trips():
    s = Schedule(lr=0.1, total_steps=100, decay="constant", plateau_patience=2)
    for error in (0.5, 0.4, 0.41, 0.42):
        s.observe_eval(error)
    assert s.lr_at(0) == pytest.approx(0.01)
    restored = Schedule(lr=0.1, total_steps=100, decay="constant", plateau_patience=2)
    restored.load_state_dict(s.state_dict())
    assert restored.lr_at(0) == s.lr_at(0) and restored.best_error == 0.4


def test_plateau_counts_evaluations_that_do_not_improve():
    s = Schedule(lr=1.0, total_steps=100, decay="constant", plateau_patience=3, gamma=0.5)
    s.observe_eval(0.5)
    assert (s.best_error, s.bad_evals, s.plateau_drops) == (0.5, 0, 0)
    s.observe_eval(0.5)  # equal is not better
    s.observe_eval(0.6)
    assert (s.bad_evals, s.plateau_drops, s.lr_at(0)) == (2, 0, 1.0)
    s.observe_eval(0.45)  # a better error resets the count
    assert (s.best_error, s.bad_evals) == (0.45, 0)
    for _ in range(3):
        s.observe_eval(0.7)
    assert (s.bad_evals, s.plateau_drops, s.lr_at(0)) == (0, 1, 0.5)  # the drop restarts the count
    assert s.best_error == 0.45


def test_plateau_drops_stop_at_max_plateau_drops():
    s = Schedule(lr=1.0, total_steps=100, decay="constant", plateau_patience=1, max_plateau_drops=2)
    s.observe_eval(0.5)
    for _ in range(5):
        s.observe_eval(0.9)
    assert s.plateau_drops == 2 and s.lr_at(0) == pytest.approx(0.01)


def test_plateau_off_ignores_evaluations():
    s = Schedule(lr=1.0, total_steps=100, decay="constant")
    for error in (0.5, 0.9, 0.9, 0.9, 0.9):
        s.observe_eval(error)
    assert (s.best_error, s.bad_evals, s.plateau_drops, s.lr_at(0)) == (math.inf, 0, 0, 1.0)


def test_plateau_drops_multiply_every_curve():
    s = Schedule(lr=1.0, total_steps=100, decay="step", milestones=[50], plateau_patience=1, gamma=0.1)
    s.observe_eval(0.5)
    s.observe_eval(0.6)
    assert s.lr_at(0) == pytest.approx(0.1) and s.lr_at(50) == pytest.approx(0.01)


def test_linear_warmup_and_decay_shapes():
    s = Schedule(lr=1.0, total_steps=110, decay="linear", warmup_steps=10)
    assert s.lr_at(0) == pytest.approx(0.1) and s.lr_at(9) == pytest.approx(1.0)
    assert s.lr_at(10) == pytest.approx(1.0) and s.lr_at(60) == pytest.approx(0.5)
    assert s.lr_at(110) == 0.0 and s.lr_at(200) == 0.0  # never negative past the end
    c = Schedule(lr=1.0, total_steps=100, decay="cosine")
    assert c.lr_at(0) == pytest.approx(1.0) and c.lr_at(50) == pytest.approx(0.5)
    assert c.lr_at(25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert c.lr_at(100) == pytest.approx(0.0) and c.lr_at(150) == pytest.approx(0.0)  # clamped, not rising again


def test_cosine_after_a_linear_warmup_starts_at_the_peak():
    s = Schedule(lr=2.0, total_steps=30, decay="cosine", warmup_steps=10)
    assert [s.lr_at(i) for i in (0, 4, 9)] == pytest.approx([0.2, 1.0, 2.0])
    assert s.lr_at(10) == pytest.approx(2.0) and s.lr_at(20) == pytest.approx(1.0)


def test_constant_is_constant_and_ignores_milestones():
    s = Schedule(lr=0.3, total_steps=10, decay="constant", milestones=[2])
    assert [s.lr_at(i) for i in range(10)] == [0.3] * 10


def test_warmup_lr_wins_over_the_linear_ramp():
    s = Schedule(lr=1.0, total_steps=100, warmup_steps=10, warmup_lr=0.05)
    assert s.lr_at(5) == 0.05
    s.observe_train(0.1)
    assert s.lr_at(5) == pytest.approx(0.6)


def test_cosine_cycles_restart_at_each_cycle_end():
    s = Schedule(lr=1.0, total_steps=10, decay="cosine", cycles=3)
    assert s.cycle_ends() == [3, 7, 10]  # rounded thirds
    assert [s.lr_at(i) for i in (0, 3, 7)] == pytest.approx([1.0, 1.0, 1.0])
    assert s.lr_at(5) == pytest.approx(0.5)  # half way through the second cycle (3..7)
    assert s.lr_at(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 3)))
    assert s.lr_at(10) == pytest.approx(0.0)  # the end of the last cycle
    assert Schedule(lr=1.0, total_steps=10, cycles=1).cycle_ends() == [10]


def test_state_dict_holds_exactly_the_metric_driven_state():
    s = Schedule(lr=1.0, total_steps=100, warmup_lr=0.1, plateau_patience=1)
    s.observe_train(0.1)
    s.observe_eval(0.3)
    s.observe_eval(0.4)
    state = s.state_dict()
    assert state == {"warming": False, "plateau_drops": 1, "best_error": 0.3, "bad_evals": 0}
    fresh = Schedule(lr=1.0, total_steps=100, warmup_lr=0.1, plateau_patience=1)
    fresh.load_state_dict(state)
    assert fresh == s


def test_every_cycle_restarts_including_the_first_and_with_two_cycles():
    three = Schedule(lr=1.0, total_steps=30, decay="cosine", cycles=3)
    assert three.lr_at(5) == pytest.approx(0.5)  # half way through the first cycle, as through the others
    two = Schedule(lr=1.0, total_steps=20, decay="cosine", cycles=2)
    assert two.cycle_ends() == [10, 20]
    assert two.lr_at(10) == pytest.approx(1.0) and two.lr_at(15) == pytest.approx(0.5)


def test_one_step_curves_end_at_zero():
    """A decay over a single step (or a one-step cycle) reaches 0 at its end, not half way."""
    assert Schedule(lr=1.0, total_steps=1, decay="linear").lr_at(1) == 0.0
    assert Schedule(lr=1.0, total_steps=2, decay="cosine", cycles=2).lr_at(2) == pytest.approx(0.0)
