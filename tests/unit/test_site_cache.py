from realtime.domain import Site
from realtime.sites import SiteCache


class CountingSites:
    """A minimal store: counts lookups so the test can see what the cache saves."""

    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.lookups = 0

    def get_site_by_key(self, key: str) -> Site | None:
        self.lookups += 1
        return self.sites.get(key)


def test_sites_are_cached_for_the_ttl_then_reread():
    store, now = CountingSites(), [0.0]
    store.sites["k"] = Site(id="s1", company_id="c", site_key="k", domain="d")
    cache = SiteCache(store, ttl=30, miss_ttl=5, clock=lambda: now[0])
    assert cache.get("k").id == "s1" and cache.get("k").id == "s1"
    assert store.lookups == 1
    store.sites["k"] = Site(id="s1", company_id="c", site_key="k", domain="d", hold_minutes=5)
    now[0] = 31
    assert cache.get("k").hold_minutes == 5
    assert store.lookups == 2


def test_unknown_keys_are_remembered_only_briefly():
    store, now = CountingSites(), [0.0]
    cache = SiteCache(store, ttl=30, miss_ttl=5, clock=lambda: now[0])
    assert cache.get("new") is None and cache.get("new") is None
    assert store.lookups == 1
    store.sites["new"] = Site(id="s2", company_id="c", site_key="new", domain="d")
    now[0] = 6
    assert cache.get("new").id == "s2"
