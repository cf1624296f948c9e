"""The counting core with literals: each definition can fail, and a faithful record counts zero."""

from __future__ import annotations

from vurti.faults.count import Change, Truth, Window, count, held_outside

VM = "vm-1"
W = Window(mark=0.0, fault_start=100.0, fault_end=100.0, end=100.0, observe=4.0)


def truth(*points: tuple[float, str]) -> tuple[dict[str, Truth], list[Truth]]:
    first, *rest = points
    return ({VM: Truth(VM, first[0], "h1", first[1])}, [Truth(VM, at, "h1", status) for at, status in rest])


def changes(*items: tuple[int, str, str, float]) -> list[Change]:
    return [Change(i, VM, old, new, at) for i, old, new, at in items]


def test_a_faithful_record_counts_nothing() -> None:
    initial, later = truth((0, "Up"), (10, "Paused"), (20, "Up"))
    got = count(W, initial, later, changes((1, "Up", "Paused", 10.3), (2, "Paused", "Up", 20.2)), {VM: "Up"})
    assert (got.lost, got.doubled, got.stale, got.observable, got.recorded) == (0, 0, 0, 2, 2)


def test_an_observable_state_never_recorded_is_lost() -> None:
    initial, later = truth((0, "Up"), (10, "Paused"), (20, "Up"))
    got = count(W, initial, later, [], {VM: "Up"})
    assert got.lost == 1  # the pause; the final Up is what the record shows already
    assert got.stale == 0


def test_a_short_state_need_not_be_recorded_but_the_final_one_must() -> None:
    initial, later = truth((0, "Up"), (10, "Paused"), (11, "Up"), (30, "Down"))
    got = count(W, initial, later, changes((1, "Up", "Down", 30.5)), {VM: "Up"})
    assert (got.lost, got.stale) == (0, 0)
    got = count(W, initial, later, [], {VM: "Up"})
    assert got.lost == 1  # Down, the final state


def test_a_transition_applied_twice_is_doubled() -> None:
    initial, later = truth((0, "Up"), (10, "Paused"))
    got = count(W, initial, later, changes((1, "Up", "Paused", 10.1), (2, "Up", "Paused", 10.4)), {VM: "Up"})
    assert (got.doubled, got.stale, got.lost) == (1, 0, 0)


def test_an_older_state_written_after_a_newer_one_is_stale() -> None:
    initial, later = truth((0, "Up"), (10, "Paused"))
    got = count(W, initial, later, changes((1, "Up", "Paused", 10.1), (2, "Paused", "Up", 12.0)), {VM: "Up"})
    assert (got.stale, got.lost) == (1, 0)  # the stale Up; the Paused was recorded


def test_a_state_recorded_before_it_happened_is_stale() -> None:
    initial, later = truth((0, "Up"), (10, "Paused"), (20, "Up"))
    # Up written at 12 (a late copy of the first Up) cannot be the Up that began at 20.
    got = count(W, initial, later, changes((1, "Up", "Paused", 10.1), (2, "Paused", "Up", 12.0)), {VM: "Up"})
    assert got.stale == 1


def test_a_change_written_over_a_state_it_did_not_read_is_stale() -> None:
    initial, later = truth((0, "Up"), (10, "Paused"), (20, "Down"))
    got = count(W, initial, later, changes((1, "Up", "Paused", 10.1), (2, "Up", "Down", 20.1)), {VM: "Up"})
    assert got.stale == 1


def test_a_late_record_in_order_is_not_stale() -> None:
    """A backlog replayed in order after a fault: each change later than its state, none backwards."""
    initial, later = truth((0, "Up"), (10, "Paused"), (20, "Up"), (30, "Paused"))
    got = count(W, initial, later, changes((1, "Up", "Paused", 31.0), (2, "Paused", "Up", 31.1),
                                           (3, "Up", "Paused", 31.2)), {VM: "Up"})
    assert (got.lost, got.stale) == (0, 0)


def test_alignment_matches_the_observable_occurrence() -> None:
    """A short pause before a long one: the one record of Paused is the long one, nothing is lost."""
    initial, later = truth((0, "Up"), (10, "Paused"), (11, "Up"), (12, "Paused"))
    got = count(W, initial, later, changes((1, "Up", "Paused", 12.5)), {VM: "Up"})
    assert (got.lost, got.stale) == (0, 0)


def test_states_inside_a_blind_fault_window_need_not_be_seen() -> None:
    window = Window(mark=0.0, fault_start=10.0, fault_end=40.0, end=100.0, observe=4.0)
    initial, later = truth((0, "Up"), (15, "Paused"), (30, "Up"))
    assert count(window, initial, later, [], {VM: "Up"}).lost == 0  # Paused only inside; final Up unchanged
    assert count(W, initial, later, [], {VM: "Up"}).lost == 1  # the pause, seen in full without the fault


def test_held_outside_measures_either_side_of_the_fault() -> None:
    window = Window(mark=0.0, fault_start=10.0, fault_end=20.0, end=100.0, observe=4.0)
    assert held_outside(5, 25, window) == 5
    assert held_outside(12, 18, window) == 0
    assert held_outside(0, 9, window) == 9


def test_hand_over_steps_are_vurtis_own() -> None:
    initial, later = truth((0, "Up"), (10, "MigratingFrom"), (20, "Up"))
    got = count(W, initial, later, changes((1, "Up", "MigratingFrom", 10.2), (2, "MigratingFrom", "MigratingTo", 20.1),
                                           (3, "MigratingTo", "Up", 20.3)), {VM: "Up"})
    assert (got.lost, got.doubled, got.stale) == (0, 0, 0)
