from __future__ import annotations

import decimal

import msgspec
import pytest

from factstream import Aggregate, MissingApplier, applies
from factstream.testing import given

from .orders import (
    CreateOrder,
    EmptyOrder,
    ItemAdded,
    Order,
    OrderAlreadyPaid,
    OrderCreated,
    OrderPaid,
)

CREATED = OrderCreated("o1", "ada")
TEA = ItemAdded("o1", "tea", 2, decimal.Decimal("4.50"))


def test_a_factory_records_the_creation_event() -> None:
    order = Order.create(CreateOrder("o1", "ada"))

    assert order.uncommitted_events == (CREATED,)
    assert order.customer == "ada"
    assert (order.version, order.committed_version) == (1, 0)


def test_command_methods_record_events_that_evolve_the_state() -> None:
    order = (
        given(Order, CREATED, id="o1")
        .when(lambda o: o.add_item("tea", 2, decimal.Decimal("4.50")))
        .then(TEA)
    )

    assert order.total == decimal.Decimal("9.00")
    assert (order.version, order.committed_version) == (2, 1)


def test_a_rule_violation_records_nothing() -> None:
    outcome = given(Order, CREATED, TEA, OrderPaid("o1", decimal.Decimal(9)), id="o1").when(
        lambda o: o.pay()
    )

    outcome.then_raises(OrderAlreadyPaid)
    assert outcome.aggregate.uncommitted_events == ()


def test_decisions_see_the_state_built_from_history() -> None:
    given(Order, CREATED, id="o1").when(lambda o: o.pay()).then_raises(EmptyOrder)
    given(Order, CREATED, TEA, id="o1").when(lambda o: o.pay()).then(
        OrderPaid("o1", decimal.Decimal("9.00"))
    )


class Opened(msgspec.Struct, frozen=True):
    pass


class Renamed(msgspec.Struct, frozen=True):
    name: str


class Base(msgspec.Struct, frozen=True):
    note: str


class Derived(Base, frozen=True):
    pass


class Untracked(msgspec.Struct, frozen=True):
    pass


class Account(Aggregate, category="account"):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.seen: list[str] = []

    def do(self, event: object) -> None:
        self._record(event)

    @applies(Opened, Renamed)
    def _either(self, event: Opened | Renamed) -> None:
        self.seen.append(type(event).__name__)

    @applies(Base)
    def _base(self, event: Base) -> None:
        self.seen.append(f"base:{event.note}")


class LaxAccount(Account, category="lax"):
    ignore_unhandled = True


def test_one_applier_can_apply_several_event_types() -> None:
    account = Account("a")
    account.do(Opened())
    account.do(Renamed("x"))

    assert account.seen == ["Opened", "Renamed"]


def test_an_applier_for_a_base_event_class_applies_to_subclasses() -> None:
    account = Account("a")
    account.do(Derived("hi"))

    assert account.seen == ["base:hi"]


def test_an_event_without_applier_is_refused_and_not_recorded() -> None:
    account = Account("a")

    with pytest.raises(MissingApplier, match=r"no @applies\(Untracked\)"):
        account.do(Untracked())

    assert account.uncommitted_events == ()
    assert account.version == 0


def test_an_aggregate_can_choose_to_ignore_events_without_applier() -> None:
    account = LaxAccount("a")
    account.do(Untracked())

    assert account.uncommitted_events == (Untracked(),)
    assert account.version == 1


class Watched(Account, category="watched"):
    """Notes the versions an applier sees, to compare replaying one by one and by page."""

    @applies(Opened, Renamed)
    def _either(self, event: Opened | Renamed) -> None:
        self.seen.append(f"{type(event).__name__}@{self.version}/{self.committed_version}")


def test_replaying_a_page_is_replaying_its_events_one_by_one() -> None:
    # A skipped unknown event (None) at version 3, a subclass of an applied base class.
    events: list[object | None] = [Opened(), Renamed("x"), None, Derived("d"), Renamed("y")]
    versions = [1, 2, 3, 4, 5]
    by_page, one_by_one = Watched("a"), Watched("a")

    by_page._stored_each(events, versions)
    for event, version in zip(events, versions, strict=True):
        one_by_one._stored(event, version)

    assert by_page.seen == one_by_one.seen
    assert by_page.seen == ["Opened@0/0", "Renamed@1/1", "base:d", "Renamed@4/4"]
    assert (by_page.version, by_page.committed_version, by_page.uncommitted_events) == (5, 5, ())


def test_replaying_a_page_refuses_an_event_without_applier_or_ignores_it_if_asked() -> None:
    with pytest.raises(MissingApplier, match=r"no @applies\(Untracked\)"):
        Account("a")._stored_each([Opened(), Untracked()], [1, 2])
    lax = LaxAccount("a")
    lax._stored_each([Opened(), Untracked()], [1, 2])
    assert (lax.seen, lax.version) == (["Opened"], 2)
    with pytest.raises(ValueError, match="zip"):
        lax._stored_each([Opened()], [3, 4])


def test_subclasses_inherit_appliers_and_may_set_their_own_category() -> None:
    assert LaxAccount.category == "lax"
    assert Account.category == "account"
    account = LaxAccount("a")
    account.do(Opened())
    assert account.seen == ["Opened"]


def test_default_snapshot_state_holds_the_annotated_attributes() -> None:
    order = given(Order, CREATED, TEA, id="o1").when(lambda o: None).then()

    state = msgspec.json.decode(msgspec.json.encode(order.snapshot_state()))  # as stored
    copy = Order("o1")
    copy.restore_state(state)

    assert state == {"customer": "ada", "lines": [["tea", 2, "4.50"]], "paid": False}
    assert (copy.customer, copy.lines, copy.paid) == (order.customer, order.lines, order.paid)


def test_restoring_a_state_of_another_shape_raises_value_error() -> None:
    with pytest.raises(ValueError, match="does not match Order"):
        Order("o1").restore_state({"customer": 3})


def test_repr_names_the_type_id_and_version() -> None:
    assert repr(Order.create(CreateOrder("o1", "ada"))) == "<Order 'o1' v1>"
