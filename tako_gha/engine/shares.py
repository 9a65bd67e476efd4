"""A fan-out's parts of the token's budget: what each child is handed, when, and
what comes back (docs/limits.md, "One token, many processes").

``core.budget`` does the arithmetic; this module keeps the fan-out's ledger of it.
Each target gets a part (by the shape the subscription graph predicts) and a slot
(its arc of this process's write period, in target order). A part stays this
process's to spend until the child is dispatched (``hand_over``: the dispatch
carries it), and comes back when the child's whole known subtree has ended
(``returned``). A dispatch that hands a part over waits until this process's
trailing minute holds no more than what it keeps (``Governor.handover_wait``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tako_gha.core.budget import Budget, Slot, plan_split
from tako_gha.engine.correlate import Track
from tako_gha.engine.governor import Governor


@dataclass
class Shares:
    """The parts and arcs of one fan-out's targets, and what it has handed out."""

    slot: Slot = field(default_factory=Slot)  # this process's own arc
    parts: dict[str, Budget] = field(default_factory=dict)  # node id -> part to hand over
    handed: dict[str, Budget] = field(default_factory=dict)  # node id -> part handed over
    _by_repo: dict[str, Budget] = field(default_factory=dict)  # target -> part (planning)
    _slot_by_repo: dict[str, Slot] = field(default_factory=dict)

    def plan(self, budget: Budget, subscribers: dict, source: str, targets: list[str],
             chain: tuple[str, ...], levels: int) -> None:
        """Each target's part of ``budget`` (``core.budget.plan_split``) and arc of
        ``slot``. A repository named twice gets both parts and its first arc."""
        split = plan_split(budget, subscribers, source, targets, chain, levels)
        for index, (repo, part) in enumerate(zip(targets, split.children, strict=True)):
            key = repo.lower()
            self._by_repo[key] = part if key not in self._by_repo else self._by_repo[key].plus(part)
            self._slot_by_repo.setdefault(key, self.slot.part(index, len(targets)))

    def assign(self, node_id: str, repo: str) -> tuple[Budget | None, Slot | None]:
        """The part and arc of the node made for ``repo`` (once: a second node of the
        same repository gets none); the part is kept until its dispatch hands it over,
        the arc travels in the dispatch's payload."""
        part = self._by_repo.pop(repo.lower(), None)
        slot = self._slot_by_repo.pop(repo.lower(), None)
        if part is None:
            return None, None
        self.parts[node_id] = part
        return part, slot

    def part_of(self, node_id: str) -> Budget | None:
        """The part a dispatch to ``node_id`` would hand over (None: none, or handed)."""
        return self.parts.get(node_id)

    def hand_over(self, node_id: str, governor: Governor) -> None:
        """A dispatch went out (or may have): the part is the child's now."""
        part = self.parts.pop(node_id, None)
        if part is not None:
            self.handed[node_id] = part
            governor.hand_over(part)

    def returned(self, own: Iterable[Track], governor: Governor, now: float,
                 grace: float) -> None:
        """Children whose runs have all ended hand their part back: this process may
        poll faster (and dispatch faster) as its subtree finishes."""
        if not self.handed:
            return
        for track in own:
            part = self.handed.get(track.node.id)
            # its whole known subtree, not just its run: a fire-and-forget child ends
            # before the grandchildren that spend parts of its budget
            if part is None or not all(n.state.is_terminal for n in track.node.walk()):
                continue
            if not track.settled(now, grace):
                continue
            del self.handed[track.node.id]
            governor.give_back(part)
