"""The [apim] section, the targets it generates, imports and precedence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from probe.apim import ApimConfig
from probe.config import Target, load, parse
from probe.errors import ConfigError
from probe.results import PortState
from probe.targets import apim_targets, expand, health_url, merge, render_targets

ROOT = Path(__file__).resolve().parent.parent
AZURE = Path(__file__).parent / "data" / "azure"
DNS = '[dns]\nresolvers = ["198.18.2.53"]\n'


def cfg(apim: str, extra: str = "") -> str:
    return f"{DNS}[apim]\n{apim}\n{extra}"


BASIC = 'name = "contoso"\nmode = "internal"'


def test_minimal_section_and_defaults() -> None:
    apim = parse(cfg(BASIC)).apim
    assert apim == ApimConfig(name="contoso", mode="internal")
    assert apim.azure_dns == ("168.63.129.16",)
    assert apim.health_url == "https://contoso.azure-api.net/status-0123456789abcdef"
    assert parse(DNS).apim is None


def test_every_key() -> None:
    apim = parse(cfg(
        'name = "contoso"\nmode = "external"\nregion = "East US"\nself_hosted_gateway = true\n'
        'domain = "azure-api.test."\ninstance_address = ["198.18.2.10", "2001:db8::0:1"]\n'
        'storage = ["a.blob.core.windows.net", "a.blob.core.windows.net"]\n'
        'sql = "s.database.windows.net"\nkeyvault = ["k.vault.azure.net"]\n'
        'monitor = ["gcs.prod.monitoring.core.windows.net"]\nazure_dns = ["198.18.2.53"]\n'
        'forbidden_hops = ["198.18.3.4", "198.18.8.0/24"]\nimport = ["ns.json"]\n'
        'health_check = false\nverify_tls = false\nlocations = ["East US", "West US"]')).apim
    assert apim is not None
    assert apim.domain == "azure-api.test"
    assert apim.instance_addresses == ("198.18.2.10", "2001:db8::1")
    assert apim.storage == ("a.blob.core.windows.net",)  # duplicates collapse
    assert apim.sql == ("s.database.windows.net",)  # a single string is a list of one
    assert apim.forbidden_hops == ("198.18.3.4", "198.18.8.0/24")
    assert apim.imports == ("ns.json",)
    assert (apim.self_hosted_gateway, apim.health_check, apim.verify_tls) == (True, False, False)
    assert apim.locations == ("East US", "West US")
    assert apim.reports == ()  # filled by expand from the imports


@pytest.mark.parametrize(("apim", "key", "line", "what"), [
    ('name = "c"\nmode = "internal"\nmod = 1', "apim.mod", 6, "unknown key 'mod'; expected one "
     "of: name, mode"),
    ('mode = "internal"', "apim", 3, "missing required key 'name'"),
    ('name = "c"', "apim", 3, "missing required key 'mode'"),
    ('name = "c"\nmode = "hybrid"', "apim.mode", 5, "expected one of: internal, external"),
    ('name = "-c"\nmode = "internal"', "apim.name", 4, "instance name"),
    ('name = "c.d"\nmode = "internal"', "apim.name", 4, "instance name"),
    ('name = 3\nmode = "internal"', "apim.name", 4, "expected a string"),
    (BASIC + '\nself_hosted_gateway = "yes"', "apim.self_hosted_gateway", 6,
     "expected true or false"),
    (BASIC + '\nstorage = ["ok.test", "not a host"]', "apim.storage", 6,
     "expected a hostname, got 'not a host' (item 1)"),
    (BASIC + '\nsql = [3]', "apim.sql", 6, "expected a hostname, got 3"),
    (BASIC + '\ninstance_address = "contoso.azure-api.net"', "apim.instance_address", 6,
     "expected an IP address"),
    (BASIC + '\nforbidden_hops = ["198.18.3.0/33"]', "apim.forbidden_hops", 6,
     "expected an IP address or CIDR prefix"),
    (BASIC + '\nazure_dns = ["dns.test"]', "apim.azure_dns", 6, "expected an IP address"),
    (BASIC + '\ndomain = "nodot"', "apim.domain", 6, "expected a DNS domain"),
    (BASIC + '\nimport = [""]', "apim.import", 6, "expected a file path"),
    (BASIC + '\nkeyvault = {x = 1}', "apim.keyvault", 6, "expected a list or a string"),
    (BASIC + '\nlocations = [""]', "apim.locations", 6, "expected an Azure location name"),
])
def test_invalid_apim_section(apim: str, key: str, line: int, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(cfg(apim), source="probe.toml")
    error = info.value
    assert (error.key, error.line) == (key, line)
    assert what in error.message
    assert str(error).startswith(f"probe.toml:{line}: {key}: ")


def test_apim_must_be_a_table() -> None:
    with pytest.raises(ConfigError) as info:
        parse('apim = "contoso"\n' + DNS)
    assert info.value.key == "apim" and "expected a table" in info.value.message


def test_generated_targets() -> None:
    apim = ApimConfig(name="contoso", mode="internal", storage=("st.blob.core.windows.net",),
                      sql=("db.database.windows.net",), keyvault=("kv.vault.azure.net",),
                      monitor=("gcs.prod.monitoring.core.windows.net",))
    got = [(t.name, t.host, t.port, t.dependency, t.required) for t in apim_targets(apim)]
    assert got == [
        ("gateway", "contoso.azure-api.net", 443, "gateway", True),
        ("management", "contoso.management.azure-api.net", 3443, "management", True),
        ("portal", "contoso.developer.azure-api.net", 443, "portal", False),
        ("storage:st.blob.core.windows.net:443", "st.blob.core.windows.net", 443, "storage",
         True),
        ("sql:db.database.windows.net:1433", "db.database.windows.net", 1433, "sql", True),
        ("keyvault:kv.vault.azure.net:443", "kv.vault.azure.net", 443, "keyvault", True),
        ("monitor:gcs.prod.monitoring.core.windows.net:1886",
         "gcs.prod.monitoring.core.windows.net", 1886, "monitor", True),
        ("monitor:gcs.prod.monitoring.core.windows.net:443",
         "gcs.prod.monitoring.core.windows.net", 443, "monitor", True),
    ]


def test_self_hosted_gateway_adds_the_configuration_endpoint() -> None:
    apim = ApimConfig(name="contoso", mode="external", self_hosted_gateway=True,
                      domain="azure-api.test")
    config_target = [t for t in apim_targets(apim) if t.dependency == "configuration"]
    assert config_target == [Target("configuration", "contoso.configuration.azure-api.test",
                                    443, dependency="configuration")]
    assert "configuration" not in {t.dependency for t in apim_targets(
        ApimConfig(name="contoso", mode="external"))}


def test_explicit_target_wins_in_place_and_others_add() -> None:
    generated = (Target("gateway", "g.test", 443), Target("portal", "p.test", 443,
                                                          required=False))
    explicit = (Target("portal", "p.test", 8443), Target("backend", "b.test", 80))
    assert merge(generated, explicit) == (generated[0], explicit[0], explicit[1])


def test_expand_with_explicit_targets() -> None:
    text = cfg(BASIC, '[[target]]\nname = "management"\nhost = "m.test"\nport = 3443\n'
                      'expect = "filtered"\n[[target]]\nname = "orders"\nhost = "o.test"\n'
                      'port = 8080\n')
    config = expand(parse(text))
    names = [t.name for t in config.targets]
    assert names == ["gateway", "management", "portal", "orders"]
    assert config.targets[1].expect is PortState.FILTERED
    assert expand(parse(DNS)) == parse(DNS)  # no [apim]: unchanged


def test_expand_reads_imports_relative_to_the_config(tmp_path: Path) -> None:
    shutil.copy(AZURE / "networkstatus.json", tmp_path / "ns.json")
    shutil.copy(AZURE / "outbound-dependencies.json", tmp_path / "out.json")
    path = tmp_path / "probe.toml"
    path.write_text(cfg(BASIC + '\nstorage = ["apimst2f7a9c1e.blob.core.windows.net"]\n'
                                'region = "eastus"\nimport = ["ns.json", "out.json"]'))
    config = expand(load(path))
    names = [t.name for t in config.targets]
    assert names[:4] == ["gateway", "management", "portal",
                         "storage:apimst2f7a9c1e.blob.core.windows.net:443"]
    assert len(names) == len(set(names))
    assert "sql:kdbwrtsqlprodeus1.database.windows.net:1433" in names
    assert "certificate:ocsp.digicert.com:80" in names
    assert len(names) == 14  # no West Europe account, no cache, no second 3443
    assert config.apim is not None
    assert len(config.apim.reports) == 11  # every East US entry, as APIM's evidence
    assert {c.location for c in config.apim.reports} == {"East US"}


def test_required_wins_across_imports_whatever_their_order(tmp_path: Path) -> None:
    # networkstatus says Monitor's gcs endpoint is optional; the outbound list
    # (Azure Monitor: required) says it is needed. Needed wins, either way round.
    shutil.copy(AZURE / "networkstatus.json", tmp_path / "ns.json")
    shutil.copy(AZURE / "outbound-dependencies.json", tmp_path / "out.json")
    gcs = "monitor:gcs.prod.monitoring.core.windows.net:443"
    for order in ('"ns.json", "out.json"', '"out.json", "ns.json"'):
        path = tmp_path / "probe.toml"
        path.write_text(cfg(BASIC + f'\nregion = "East US"\nimport = [{order}]'))
        targets = {t.name: t for t in expand(load(path)).targets}
        assert targets[gcs].required, order
        assert not targets["entra:login.windows.net:443"].required


def test_optional_import_does_not_weaken_the_preset(tmp_path: Path) -> None:
    shutil.copy(AZURE / "networkstatus.json", tmp_path / "ns.json")
    path = tmp_path / "probe.toml"
    path.write_text(cfg(BASIC + '\nregion = "East US"\nimport = ["ns.json"]\n'
                                'monitor = ["gcs.prod.monitoring.core.windows.net"]'))
    targets = {t.name: t for t in expand(load(path)).targets}
    assert targets["monitor:gcs.prod.monitoring.core.windows.net:443"].required


def test_unmatched_region_is_a_config_error(tmp_path: Path) -> None:
    shutil.copy(AZURE / "networkstatus.json", tmp_path / "ns.json")
    path = tmp_path / "probe.toml"
    path.write_text(cfg(BASIC + '\nregion = "West US"\nimport = ["ns.json"]'))
    with pytest.raises(ConfigError, match=r"no location 'West US'.*it holds: East US, "
                                          "West Europe"):
        expand(load(path))
    path.write_text(cfg(BASIC + '\nregion = "West US"\nlocations = ["West Europe"]\n'
                                'import = ["ns.json"]'))
    config = expand(load(path))
    assert config.apim is not None
    assert {c.location for c in config.apim.reports} == {"West Europe"}


def test_missing_import_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "probe.toml"
    path.write_text(cfg(BASIC + '\nimport = ["gone.json"]'))
    with pytest.raises(ConfigError) as info:
        expand(load(path))
    assert str(info.value).startswith(str(tmp_path / "gone.json"))


def test_render_targets(tmp_path: Path) -> None:
    shutil.copy(AZURE / "outbound-dependencies.json", tmp_path / "out.json")
    path = tmp_path / "probe.toml"
    path.write_text(cfg('name = "contoso"\nmode = "internal"\nregion = "East US"\n'
                        'import = ["out.json"]',
                        '[[target]]\nname = "portal"\nhost = "p.test"\nport = 443\n'
                        '[[target]]\nname = "orders"\nhost = "o.test"\nport = 8080\n'))
    text = render_targets(load(path))
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "DEPENDENCY", "HOST:PORT", "EXPECT", "REQUIRED", "FROM"]
    assert lines[1].split() == ["gateway", "gateway", "contoso.azure-api.net:443", "open", "yes",
                                "apim"]
    assert lines[3].split() == ["portal", "other", "p.test:443", "open", "yes", "config",
                                "(over)"]
    assert any(line.split()[-1] == "import" and "sql:" in line for line in lines)
    assert any(line.split()[0] == "orders" and line.split()[-1] == "config" for line in lines)
    assert "instance contoso (internal mode, East US)" in text
    assert ("health check GET https://contoso.azure-api.net/status-0123456789abcdef "
            "(probe.probers.http; TCP 443 is the gateway target)") in text
    assert ("not probed from outboundNetworkDependenciesEndpoints: *.vault.azure.net "
            "(wildcard)") in text
    assert text.endswith("11 target(s)\n")


def test_render_targets_names_apims_own_checks(tmp_path: Path) -> None:
    shutil.copy(AZURE / "rest-examples" / "ApiManagementServiceGetNetworkStatus.2024-05-01.json",
                tmp_path / "ns.json")
    path = tmp_path / "probe.toml"
    path.write_text(cfg(BASIC + '\nregion = "Central US EUAP"\nimport = ["ns.json"]'))
    text = render_targets(load(path))
    assert "networkstatus: location(s) read: Central US EUAP" in text
    assert "not probed from networkstatus: LocalGatewayRedis (APIM's internal check, " \
        "not a hostname)" in text
    assert "not probed from networkstatus: Scm (APIM's internal check" in text
    assert "(inbound control-plane check: Azure calling the instance, not a dependency)" in text
    assert "localgatewayredis:" not in text and "scm:443" not in text


def test_render_targets_without_apim() -> None:
    text = render_targets(parse(DNS + '[[target]]\nname = "x"\nhost = "x.test"\nport = 1\n'))
    assert text.splitlines()[1].split() == ["x", "other", "x.test:1", "open", "yes", "config"]
    assert text.endswith("1 target(s)\n")


def test_health_url() -> None:
    assert health_url(parse(cfg(BASIC))) == \
        "https://contoso.azure-api.net/status-0123456789abcdef"
    assert health_url(parse(cfg(BASIC + "\nhealth_check = false"))) is None
    assert health_url(parse(DNS)) is None


@pytest.mark.parametrize("name", ["apim.toml", "apim-lab.toml", "apim-selfhosted.toml"])
def test_examples_load(name: str, tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 198.18.2.54\n")
    config = expand(load(ROOT / "examples" / name, resolv_conf=resolv))
    assert config.apim is not None
    assert {"gateway", "management", "portal"} <= {t.name for t in config.targets}
