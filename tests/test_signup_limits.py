"""Open sign-up created 30 patient records in 23 s in the review: sign-ups are limited per
terminal and per clinic-hour, and an administrator can switch self sign-up off."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from meditrack_tui.errors import PermissionDenied, RateLimited
from meditrack_tui.services import Services
from tests.peek import Peek

PASSWORD = "a-long-password-1"


def cheap(services: Services) -> Services:
    services.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return services


def sign_up(services: Services, n: int):
    return services.auth.signup_patient(f"patient.{n}", PASSWORD, first_name="Pat",
                                        last_name=f"Number{n}", dob="1990-05-06", sex="F")


@pytest.fixture
def admin(services):
    cheap(services)
    services.auth.create_first_admin("boss", PASSWORD, "Bo Boss")
    return services.auth.login("boss", PASSWORD)


def terminal(services: Services) -> Services:
    """Another terminal on the same clinic: its own process, here its own services."""
    return cheap(Services(services.store, services.config, clock=services.ctx.clock))


def test_one_terminal_signs_up_at_most_two_accounts_an_hour(services, admin, clock):
    sign_up(services, 1)
    sign_up(services, 2)
    with pytest.raises(RateLimited, match="This terminal"):
        sign_up(services, 3)
    assert Peek(services.store).count("patients") == 2
    denied = Peek(services.store).one("audit", action="signup", outcome="denied")
    assert denied["username"].startswith("unknown:")  # not the name as typed
    sign_up(terminal(services), 3)  # another terminal may
    clock.advance(minutes=61)
    sign_up(services, 4)  # an hour later this one may again


def test_the_clinic_limits_sign_ups_per_hour_across_terminals(services, admin, clock):
    settings = services.settings.get(admin)
    services.settings.update(admin, {"signups_per_hour": 3}, version=settings["version"])
    for n in range(3):
        sign_up(terminal(services), n)
    with pytest.raises(RateLimited, match="Too many accounts"):
        sign_up(terminal(services), 10)
    with pytest.raises(RateLimited):
        terminal(services).auth.signup_doctor("dr.late", PASSWORD, full_name="Dr. Late")
    assert Peek(services.store).count("patients") == 3  # nothing half made
    assert services.store.users.by_username("patient.10") is None
    clock.advance(hours=1)
    sign_up(terminal(services), 11)


def test_an_admin_switches_self_sign_up_off(services, admin):
    settings = services.settings.get(admin)
    assert services.auth.signup_open() is True
    services.settings.update(admin, {"self_signup": False}, version=settings["version"])
    assert services.auth.signup_open() is False
    with pytest.raises(PermissionDenied, match="switched off"):
        sign_up(services, 1)
    with pytest.raises(PermissionDenied, match="switched off"):
        services.auth.signup_doctor("dr.new", PASSWORD, full_name="Dr. New")
    assert Peek(services.store).count("patients") == 0
    assert services.store.users.by_username("dr.new") is None
    # the admin still creates accounts
    services.users.create(admin, username="dr.made", password=PASSWORD, role="doctor",
                          full_name="Dr. Made")


def test_thirty_sign_ups_in_a_row_are_stopped(services, admin):
    """The review's reproduction: one terminal signing up patient after patient."""
    made = 0
    for n in range(30):
        try:
            sign_up(services, n)
            made += 1
        except RateLimited:
            pass
    assert made == 2 and Peek(services.store).count("patients") == 2


def test_taken_usernames_cannot_be_listed_by_signing_up(services, admin):
    """'That username is already taken' tells which usernames exist; a terminal gets a
    handful of such answers an hour, then no more."""
    from meditrack_tui.errors import ValidationError

    for n in range(10):
        with pytest.raises(ValidationError, match="already taken"):
            services.auth.signup_doctor("boss", PASSWORD, full_name=f"Boss {n}")
    with pytest.raises(RateLimited, match="Too many sign-up attempts"):
        services.auth.signup_doctor("boss", PASSWORD, full_name="Boss again")
    with pytest.raises(RateLimited):
        sign_up(services, 1)  # nor a fresh name from this terminal, this hour
