"""The limits table: aliases, tiers, precedence learned > config > table > unknown."""

from __future__ import annotations

from gemtui.quota.limits import FALLBACK_ORDER, LimitTable, resolve_model, use_aliases


def test_aliases_and_pass_through():
    assert resolve_model("pro") == "gemini-2.5-pro"
    assert resolve_model("flash") == "gemini-2.5-flash"
    assert resolve_model("lite") == "gemini-2.5-flash-lite"
    assert resolve_model("models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert resolve_model("gemini-3-ultra-preview") == "gemini-3-ultra-preview"
    assert FALLBACK_ORDER == ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")


def test_published_rows():
    table = LimitTable()
    assert table.limits("pro", "free").as_dict() == {"rpm": 5, "tpm": 250_000, "rpd": 100, "ipm": 0}
    assert table.limits("flash", "free").as_dict() == {"rpm": 15, "tpm": 1_000_000, "rpd": 500, "ipm": 0}
    assert table.limits("lite", "free").as_dict() == {"rpm": 15, "tpm": 250_000, "rpd": 1_000, "ipm": 0}
    assert table.limits("pro", "tier1").as_dict() == {"rpm": 150, "tpm": 2_000_000, "rpd": 10_000, "ipm": 0}
    assert table.limits("flash", "tier1").rpd is None
    assert table.limits("lite", "tier1").rpm == 4_000
    assert table.limits("pro", "tier2").as_dict() == {"rpm": 1_000, "tpm": 8_000_000, "rpd": None, "ipm": 0}
    assert table.limits("pro", "tier3").rpm == 2_000
    for tier in ("tier2", "tier3"):
        for model in ("flash", "lite"):
            paid, t1 = table.limits(model, tier), table.limits(model, "tier1")
            assert paid.rpm >= t1.rpm and paid.tpm >= t1.tpm and paid.rpd is None
    assert table.limits("gemini-2.5-flash-image", "free").ipm == 0
    assert table.limits("gemini-2.5-flash-image", "tier1").ipm == 10
    assert set(table.limits("pro", "free").source.values()) == {"table"}


def test_unknown_model_has_unknown_limits_not_another_models_row():
    limits = LimitTable().limits("gemini-9-experimental", "free")
    assert limits.as_dict() == {"rpm": None, "tpm": None, "rpd": None, "ipm": None}
    assert set(limits.source.values()) == {"unknown"}
    learned = LimitTable().limits("gemini-9-experimental", "free", learned={"rpm": 25})
    assert (learned.rpm, learned.source["rpm"], learned.source["tpm"]) == (25, "learned", "unknown")


def test_aliases_follow_the_servers_newest_models_and_the_chain_with_them():
    use_aliases({"pro": "gemini-3-pro", "flash": "models/gemini-3-flash"})
    try:
        assert resolve_model("pro") == "gemini-3-pro"
        assert resolve_model("flash") == "gemini-3-flash"
        assert resolve_model("lite") == resolve_model("flash-lite") == "gemini-2.5-flash-lite"
        assert FALLBACK_ORDER == ("gemini-3-pro", "gemini-3-flash", "gemini-2.5-flash-lite")
        assert list(FALLBACK_ORDER[1:]) == ["gemini-3-flash", "gemini-2.5-flash-lite"]
    finally:
        use_aliases({})
    assert FALLBACK_ORDER[0] == "gemini-2.5-pro"


def test_unknown_tier_reads_as_free():
    assert LimitTable().limits("pro", "platinum").rpm == 5


def test_config_overrides_table_and_learned_beats_both():
    table = LimitTable({"pro": {"rpm": 7, "rpd": "unlimited", "tpm": "lots"}, "my-model": {"rpm": 3}})
    limits = table.limits("gemini-2.5-pro", "free")
    assert (limits.rpm, limits.source["rpm"]) == (7, "config")
    assert (limits.rpd, limits.source["rpd"]) == (None, "config")
    assert (limits.tpm, limits.source["tpm"]) == (250_000, "table")
    assert "pro.tpm" in table.ignored
    learned = table.limits("pro", "free", learned={"rpm": 4})
    assert (learned.rpm, learned.source["rpm"]) == (4, "learned")
    custom = table.limits("my-model", "free")
    assert (custom.rpm, custom.source["rpm"], custom.source["tpm"]) == (3, "config", "unknown")


def test_known_models_include_configured_ones():
    table = LimitTable({"my-model": {"rpm": 3}, "pro": {"rpm": 1}})
    assert table.known_models()[-1] == "my-model"
    assert "gemini-2.5-pro" in table.known_models() and table.known("my-model")


def test_a_config_entry_under_an_alias_follows_what_the_alias_means_now():
    table = LimitTable({"pro": {"rpm": 9}, "gemini-3-pro": {"tpm": 123}})
    assert table.limits("gemini-2.5-pro").rpm == 9
    use_aliases({"pro": "gemini-3-pro"})
    try:
        moved = table.limits("pro")
        assert (moved.model, moved.rpm, moved.tpm) == ("gemini-3-pro", 9, 123)
        assert moved.source["rpm"] == "config" and moved.source["rpd"] == "unknown"
        assert table.limits("gemini-2.5-pro").rpm == 5  # the table again: the alias moved on
        assert "gemini-3-pro" in table.known_models() and table.known("pro")
    finally:
        use_aliases({})


def test_a_full_id_entry_beats_an_alias_entry_for_the_same_model():
    table = LimitTable({"gemini-2.5-pro": {"rpm": 4}, "pro": {"rpm": 9, "rpd": 50}})
    limits = table.limits("pro")
    assert (limits.rpm, limits.rpd) == (4, 50)
