import pytest

from tests.fake_moltbook import FakeMoltbook


@pytest.fixture
def fake(settings):
    """A fresh fake Moltbook over real HTTP, and chatr pointed at it."""
    with FakeMoltbook() as moltbook:
        settings.MOLTBOOK_API_URL = moltbook.url
        yield moltbook
