"""What `make release` leaves in dist/, checked as a user would use it
(`make release-check` builds and runs this; `make test` leaves it out):
SHA256SUMS verifies, the wheel installs into a fresh venv and runs, the sdist
and the .deb carry the version, the image archive loads as the version's tag,
and the SBOM names apim-probe and its runtime dependencies."""

from __future__ import annotations

import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from probe import __version__

pytestmark = [pytest.mark.release]

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
WHEEL = DIST / f"apim_probe-{__version__}-py3-none-any.whl"
SDIST = DIST / f"apim_probe-{__version__}.tar.gz"
IMAGE = DIST / f"apim-probe-{__version__}-image.tar"
SBOM = DIST / f"apim-probe-{__version__}.cdx.json"
RUNTIME = {"dnspython", "scapy", "psutil", "prometheus-client", "tenacity"}
AZURE = {"azure-identity", "azure-mgmt-core"}  # the `azure` extra, which the image carries


def debs() -> list[Path]:
    return sorted(DIST.glob(f"apim-probe_{__version__}_*.deb"))


@pytest.fixture(scope="module", autouse=True)
def released() -> None:
    missing = [p.name for p in (WHEEL, SDIST, IMAGE, SBOM, DIST / "SHA256SUMS") if not p.is_file()]
    if missing or not debs():
        pytest.skip(f"no release in dist/ ({', '.join(missing) or 'the .deb'}): make release-check")


def test_sha256sums_cover_every_artefact_and_verify() -> None:
    proc = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=DIST,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = {line.split()[-1] for line in (DIST / "SHA256SUMS").read_text().splitlines()}
    assert listed == {p.name for p in (WHEEL, SDIST, IMAGE, SBOM, *debs())}, listed


def test_the_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    """Offline where `make release` left the dependency wheels (build/wheels),
    from the index otherwise."""
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
    wheels = ROOT / "build" / "wheels"
    source = (["--no-index", "--find-links", str(wheels)]
              if any(wheels.glob("scapy-*.whl")) else [])
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", *source, str(WHEEL)],
                   check=True, timeout=600)
    proc = subprocess.run([str(venv / "bin" / "probe"), "--version"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout.strip() == f"probe {__version__}"


def test_the_sdist_and_wheel_carry_the_version() -> None:
    with tarfile.open(SDIST) as sdist:
        names = sdist.getnames()
        assert f"apim_probe-{__version__}/pyproject.toml" in names
        init = sdist.extractfile(f"apim_probe-{__version__}/probe/__init__.py")
        assert init is not None and f'__version__ = "{__version__}"' in init.read().decode()
    with zipfile.ZipFile(WHEEL) as wheel:
        meta = wheel.read(f"apim_probe-{__version__}.dist-info/METADATA").decode()
    assert f"Version: {__version__}\n" in meta and "Requires-Python: >=3.11\n" in meta


def test_the_deb_says_its_version_dependency_and_architecture() -> None:
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (deb,) = debs()
    fields = subprocess.run(["dpkg-deb", "--field", str(deb), "Package", "Version",
                             "Architecture", "Depends"], capture_output=True, text=True,
                            check=True).stdout
    assert fields.splitlines() == ["Package: apim-probe", f"Version: {__version__}",
                                   f"Architecture: {arch}", "Depends: python3 (>= 3.11)"]
    contents = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                              text=True, check=True).stdout
    for path in ("./usr/bin/probe -> /opt/apim-probe/bin/probe",
                 "./opt/apim-probe/probe/cli.py", "./etc/apim-probe/probe.toml",
                 "./lib/systemd/system/apim-probe.service"):
        assert path in contents, path


def test_the_image_archive_is_the_versions_image() -> None:
    with tarfile.open(IMAGE) as archive:
        manifest_file = archive.extractfile("manifest.json")
        assert manifest_file is not None
        manifest = json.loads(manifest_file.read())
        config_file = archive.extractfile(manifest[0]["Config"])
        assert config_file is not None
        config = json.loads(config_file.read())
    tags = manifest[0]["RepoTags"]
    # localhost/apim-probe:<version> (IMAGE= names it otherwise)
    assert any(tag.endswith(f":{__version__}") and "apim-probe" in tag for tag in tags), tags
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    print(f"image archive: {IMAGE.stat().st_size / 1e6:.1f} MB")


def test_the_sbom_names_apim_probe_and_its_runtime_dependencies() -> None:
    bom = json.loads(SBOM.read_text(encoding="utf-8"))
    assert bom["bomFormat"] == "CycloneDX"
    components = {c["name"].lower().replace("_", "-"): c for c in bom["components"]}
    assert components["apim-probe"]["version"] == __version__
    assert components["apim-probe"]["purl"] == f"pkg:pypi/apim-probe@{__version__}"
    # the runtime, the Azure extra and what they pull in (azure-core, msal, cryptography...)
    assert {"apim-probe", *RUNTIME, *AZURE, "azure-core", "msal", "cryptography"} <= set(
        components), set(components)
    assert not {"pip", "setuptools", "wheel"} & set(components)
    root = next(d for d in bom["dependencies"] if d["ref"] == f"apim-probe=={__version__}")
    assert {ref.split("==")[0].lower().replace("_", "-") for ref in root["dependsOn"]} == (
        RUNTIME | AZURE)
