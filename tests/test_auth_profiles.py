"""Profiles through the core API (what the TUI will call), precedence, failover and masking."""

from __future__ import annotations

import tomllib

import pytest

from gemtui import paths
from gemtui.auth import (
    AuthError,
    EndpointError,
    KeyringStore,
    NoKeyringError,
    ProfileError,
    ResolvedProfile,
    active_profile_name,
    add_profile,
    get_profile,
    list_profile_views,
    remove_profile,
    resolve_backup,
    resolve_profile,
    update_profile,
    use_profile,
)

KEY_A = "AIzaSyPROFILE-A-0123456789abcdefghij"
KEY_B = "AIzaSyPROFILE-B-9876543210zyxwvutsrq"
ENV_KEY = "AIzaSyENVIRONMENT-5555555555555abcd"


def _config_text() -> str:
    path = paths.config_file()
    return path.read_text() if path.exists() else ""


def test_add_stores_secret_in_keyring_and_the_rest_in_config(secret_service):
    result = add_profile(
        "work",
        KEY_A,
        endpoint="https://relay.example.com/acct/T0KEN",
        tier="tier1",
        project="acme",
        api_version="v1beta",
    )
    assert result.activated and not result.replaced and result.warning is None
    store = KeyringStore()
    assert store.get_api_key("work") == KEY_A
    assert store.get_endpoint("work") == "https://relay.example.com/acct/T0KEN"
    text = _config_text()
    assert KEY_A not in text and "T0KEN" not in text and "relay.example.com" not in text
    data = tomllib.loads(text)
    assert data["profiles"]["work"] == {"tier": "tier1", "project": "acme", "api_version": "v1beta"}
    assert data["general"]["active_profile"] == "work"


def test_replace_updates_key_and_forgets_old_endpoint(secret_service):
    add_profile("work", KEY_A, endpoint="https://relay.example.com/t")
    result = add_profile("work", KEY_B)
    assert result.replaced
    resolved = resolve_profile()
    assert resolved.api_key == KEY_B and resolved.endpoint is None


def test_second_profile_is_not_activated_unless_asked(secret_service):
    add_profile("a", KEY_A)
    assert not add_profile("b", KEY_B).activated
    assert active_profile_name() == "a"
    assert add_profile("c", KEY_B, activate=True).activated
    assert active_profile_name() == "c"


def test_list_views_mask_keys_and_endpoints(secret_service):
    add_profile("a", KEY_A, endpoint="https://relay.example.com/acct/T0KEN", project="shared")
    add_profile("b", KEY_B, tier="tier2", project="shared", backup="a")
    views = {v.name: v for v in list_profile_views(env={})}
    assert views["a"].key == "AIza…ghij" and views["a"].active and views["a"].key_state == "stored"
    assert views["a"].endpoint == "https://relay.example.com/…"
    assert views["b"].endpoint == "official API" and views["b"].backup == "a" and views["b"].tier == "tier2"
    assert all(KEY_A not in repr(v) and KEY_B not in repr(v) for v in views.values())


def test_list_views_include_the_environment_profile(secret_service):
    views = list_profile_views(env={"GEMINI_API_KEY": ENV_KEY})
    assert [(v.name, v.active, v.key_state, v.project) for v in views] == [("env", True, "env", "env")]
    assert views[0].key == "AIza…abcd"


def test_use_and_remove(secret_service):
    add_profile("a", KEY_A)
    add_profile("b", KEY_B)
    use_profile("b")
    assert active_profile_name() == "b"
    result = remove_profile("b")
    assert result.was_active and result.warning is None
    assert active_profile_name() is None
    assert KeyringStore().get_api_key("b") is None
    with pytest.raises(ProfileError):
        use_profile("b")
    with pytest.raises(ProfileError):
        remove_profile("b")
    use_profile(None)
    assert active_profile_name() is None


def test_remove_clears_backups_naming_it(secret_service):
    add_profile("paid", KEY_B, tier="tier1")
    add_profile("free", KEY_A, backup="paid")
    remove_profile("paid")
    assert get_profile("free").backup is None


def test_update_changes_settings_but_not_the_key(secret_service):
    add_profile("a", KEY_A)
    add_profile("b", KEY_B)
    profile = update_profile("a", tier="tier3", project="p", backup="b", api_version="v1beta")
    assert (profile.tier, profile.project, profile.backup) == ("tier3", "p", "b")
    assert profile.api_version == "v1beta"
    profile = update_profile("a", backup=None, api_version=None)
    assert profile.backup is None and profile.api_version is None and profile.tier == "tier3"
    assert resolve_profile("a").api_key == KEY_A


@pytest.mark.parametrize("name", ["env", "", "-x", "a b", "a:b", "x" * 65, "ü"])
def test_bad_names_refused(secret_service, name):
    with pytest.raises(ProfileError):
        add_profile(name, KEY_A)
    assert _config_text() == ""


def test_bad_inputs_store_nothing(secret_service):
    with pytest.raises(ProfileError):
        add_profile("a", "   ")
    with pytest.raises(ProfileError):
        add_profile("a", KEY_A, tier="platinum")
    with pytest.raises(EndpointError):
        add_profile("a", KEY_A, endpoint="http://relay.example.com")
    with pytest.raises(ProfileError):
        add_profile("a", KEY_A, backup="nobody")
    with pytest.raises(ProfileError):
        add_profile("a", KEY_A, backup="a")
    assert KeyringStore().get_api_key("a") is None
    assert _config_text() == ""


def test_backup_loops_refused(secret_service):
    add_profile("a", KEY_A)
    add_profile("b", KEY_B, backup="a")
    with pytest.raises(ProfileError):
        update_profile("a", backup="b")


def test_insecure_http_with_consent_is_remembered(secret_service):
    add_profile("lan", KEY_A, endpoint="http://192.168.1.20:8080/gemini", allow_insecure_http=True)
    assert get_profile("lan").allow_insecure_http
    assert resolve_profile("lan").endpoint == "http://192.168.1.20:8080/gemini"
    update_profile("lan", allow_insecure_http=False)
    with pytest.raises(EndpointError):
        resolve_profile("lan")


# precedence ---------------------------------------------------------------------------------------


def test_precedence_flag_then_active_then_env(secret_service):
    env = {"GEMINI_API_KEY": ENV_KEY}
    resolved = resolve_profile(env=env)
    assert (resolved.name, resolved.source, resolved.api_key) == ("env", "env", ENV_KEY)
    assert resolved.project == "env"
    add_profile("a", KEY_A)
    add_profile("b", KEY_B, tier="tier1", project="acme")
    resolved = resolve_profile(env=env)
    assert (resolved.name, resolved.source, resolved.api_key) == ("a", "active", KEY_A)
    resolved = resolve_profile("b", env=env)
    assert (resolved.name, resolved.source, resolved.api_key, resolved.tier, resolved.project) == (
        "b",
        "flag",
        KEY_B,
        "tier1",
        "acme",
    )
    resolved = resolve_profile(env={**env, "GEMTUI_PROFILE": "b"})
    assert (resolved.name, resolved.source) == ("b", "flag")
    resolved = resolve_profile("env", env=env)  # the environment key on demand, despite an active profile
    assert (resolved.name, resolved.source, resolved.api_key) == ("env", "flag", ENV_KEY)


def test_env_profile_endpoint_tier_and_key_order(secret_service):
    paths.config_file().write_text('[general]\ntier = "tier2"\napi_version = "v1beta"\n')
    env = {
        "GEMINI_API_KEY": ENV_KEY,
        "GOOGLE_API_KEY": KEY_B,
        "GOOGLE_GEMINI_BASE_URL": "https://relay.example.com/acct/T0KEN",
    }
    resolved = resolve_profile(env=env)
    assert resolved.api_key == KEY_B  # GOOGLE_API_KEY wins, as in google-genai
    assert resolved.endpoint == "https://relay.example.com/acct/T0KEN"
    assert (resolved.tier, resolved.api_version, resolved.project) == ("tier2", "v1beta", "env")
    with pytest.raises(EndpointError):
        resolve_profile(env={"GEMINI_API_KEY": ENV_KEY, "GOOGLE_GEMINI_BASE_URL": "http://relay.example.com"})


def test_no_key_anywhere_is_one_plain_line(secret_service):
    with pytest.raises(AuthError) as info:
        resolve_profile(env={})
    assert "gemtui auth add" in str(info.value) and "GEMINI_API_KEY" in str(info.value)
    with pytest.raises(ProfileError):
        resolve_profile("ghost", env={})


def test_active_profile_never_falls_back_to_env(secret_service):
    add_profile("a", KEY_A)
    KeyringStore().delete_profile("a")  # key lost (e.g. keyring reset)
    with pytest.raises(AuthError) as info:
        resolve_profile(env={"GEMINI_API_KEY": ENV_KEY})
    assert "'a' has no key" in str(info.value)


def test_active_profile_without_keyring_says_so(no_keyring):
    paths.config_file().write_text('[general]\nactive_profile = "a"\n[profiles.a]\ntier = "free"\n')
    with pytest.raises(NoKeyringError):
        resolve_profile(env={"GEMINI_API_KEY": ENV_KEY})
    # but with no profile at all, the environment works without any keyring
    paths.config_file().write_text("")
    assert resolve_profile(env={"GEMINI_API_KEY": ENV_KEY}).api_key == ENV_KEY


def test_backup_resolution(secret_service):
    add_profile("paid", KEY_B, tier="tier1", project="billing")
    add_profile("free", KEY_A, backup="paid", activate=True)
    resolved = resolve_profile(env={})
    assert resolved.backup == "paid"
    backup = resolve_backup(resolved)
    assert backup is not None
    assert (backup.name, backup.api_key, backup.tier, backup.project, backup.source, backup.backup) == (
        "paid",
        KEY_B,
        "tier1",
        "billing",
        "backup",
        None,
    )
    assert resolve_backup(backup) is None


def test_resolved_profile_repr_masks_secrets():
    resolved = ResolvedProfile(
        name="a",
        api_key=KEY_A,
        endpoint="https://relay.example.com/acct/T0KEN",
        api_version=None,
        tier="free",
        project="a",
        source="flag",
    )
    for text in (repr(resolved), str(resolved), f"{resolved}", repr([resolved])):
        assert KEY_A not in text and "T0KEN" not in text
        assert "AIza…ghij" in text and "https://relay.example.com/…" in text
    message = f"failed calling https://relay.example.com/acct/T0KEN/v1/models with key {KEY_A}"
    redacted = resolved.redact(message)
    assert redacted == "failed calling https://relay.example.com/…/v1/models with key AIza…ghij"


@pytest.mark.parametrize(
    "line, words",
    [
        ('allow_insecure_http = "false"', "true or false, without quotes"),
        ("tier = 5", "string in quotes"),
        ('tier = "platinum"', "choose one of"),
        ('rpm = "abc"', "whole number"),
        ("tpm = -5", "whole number"),
        ("api_version = 1", "string in quotes"),
        ('api = "soap"', "choose one of"),
    ],
)
def test_a_hand_edited_profile_of_the_wrong_type_is_refused_with_the_line_to_mend(isolated_dirs, line, words):
    """Read as defaults, these were silent: `allow_insecure_http = "false"` even turned plain http on."""
    paths.config_file().write_text(f"[profiles.far]\n{line}\n")
    with pytest.raises(ProfileError) as caught:
        get_profile("far")
    message = str(caught.value)
    assert message.startswith("config [profiles.far] ") and words in message and len(message.splitlines()) == 1
