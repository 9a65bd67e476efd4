"""A job's masks: every line of a multi-line secret is hidden, whatever the secret."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tako_gha.emulator.jobstate import JobState, mask_values
from tako_gha.emulator.state import JobRecord, RunStore

# no '*': the mask itself would then contain what it hides
_TEXT = st.text(alphabet=st.sampled_from("ab c\t\r\n-="), min_size=1, max_size=40)


def _state(secret: str) -> JobState:
    return JobState(JobRecord(id=1, run_id=1, name="j"), RunStore(), {secret})


@given(secret=_TEXT, before=st.text(alphabet="xy ", max_size=5))
def test_no_line_of_a_secret_survives_masking(secret: str, before: str) -> None:
    state = _state(secret)
    lines = [p.strip() for p in secret.replace("\r", "\n").split("\n") if p.strip()]
    assert set(lines) <= mask_values(secret)
    for printed in secret.replace("\r", "\n").split("\n"):
        shown = state.mask(before + printed)
        assert not any(line in shown for line in lines), (printed, shown)


def test_what_masking_a_value_hides() -> None:
    assert mask_values(" k1\r\n\n  k2 \n") == {" k1\r\n\n  k2 \n", "k1", "k2"}
    assert mask_values("one") == {"one"} and mask_values(" \n\t") == set()
