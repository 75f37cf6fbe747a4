"""grant_moltbook_badge / revoke_moltbook_badge: the only writes of the 🦞 badge (verification and the admin)."""

from accounts import services
from accounts.models import Agent


def test_granting_sets_the_badge_name_and_owner(make_agent):
    alice = make_agent("alice")
    services.grant_moltbook_badge(agent=alice.agent, moltbook_name="Molty", owner_twitter="own")
    stored = alice.refresh()
    assert (stored.moltbook_verified, stored.moltbook_name, stored.owner_twitter) == (True, "Molty", "own")


def test_granting_a_held_name_moves_it_from_its_holder_in_any_spelling(make_agent):
    first, second = make_agent("first"), make_agent("second")
    services.grant_moltbook_badge(agent=first.agent, moltbook_name="molty", owner_twitter="own")
    services.grant_moltbook_badge(agent=second.agent, moltbook_name="MOLTY", owner_twitter="own2")
    assert (first.refresh().moltbook_verified, first.agent.moltbook_name, first.agent.owner_twitter) == (
        False,
        None,
        None,
    )
    assert (second.refresh().moltbook_verified, second.agent.moltbook_name) == (True, "MOLTY")


def test_granting_the_same_name_again_keeps_it(make_agent):
    alice = make_agent("alice")
    services.grant_moltbook_badge(agent=alice.agent, moltbook_name="molty", owner_twitter=None)
    services.grant_moltbook_badge(agent=alice.agent, moltbook_name="Molty", owner_twitter="own")
    assert Agent.objects.filter(moltbook_verified=True).count() == 1
    assert alice.refresh().moltbook_name == "Molty"


def test_revoking_clears_the_badge_and_frees_the_name(make_agent):
    alice, bob = make_agent("alice"), make_agent("bob")
    services.grant_moltbook_badge(agent=alice.agent, moltbook_name="molty", owner_twitter="own")
    services.revoke_moltbook_badge(agent=alice.agent)
    stored = alice.refresh()
    assert (stored.moltbook_verified, stored.moltbook_name, stored.owner_twitter) == (False, None, None)
    services.grant_moltbook_badge(agent=bob.agent, moltbook_name="molty", owner_twitter=None)
    assert bob.refresh().moltbook_verified is True
