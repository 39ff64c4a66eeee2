"""The lock files pin every dependency pyproject.toml names, with hashes, and every install
path uses them: a clean checkout installs the same versions on any day."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.txt"
# A pin line of a pip requirements file: `name==version [; marker] \`.
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


def _pins(lock: Path) -> dict[str, list[tuple[Version, str | None, int]]]:
    """Every pin in a lock: name → [(version, marker, hash count)] (a universal lock may pin one
    package twice, under exclusive markers)."""
    pins: dict[str, list[tuple[Version, str | None, int]]] = {}
    current: list[tuple[Version, str | None, int]] | None = None
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            entry = (Version(match["version"]), match["marker"], 0)
            current = pins.setdefault(canonicalize_name(match["name"]), [])
            current.append(entry)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            version, marker, hashes = current[-1]
            current[-1] = (version, marker, hashes + 1)
        elif line.strip() and not line.lstrip().startswith(("#", "--hash")):
            raise AssertionError(f"{lock.name}: unexpected line {line!r}")
    return pins


def _project() -> dict[str, list[str]]:
    """pyproject.toml's requirements by group: ``runtime`` (the base), each extra, and
    ``all``/``dev`` with their references to the project's own extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]

    def expand(specs: list[str]) -> list[str]:
        out: list[str] = []
        for spec in specs:
            requirement = Requirement(spec)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                out += [s for extra in sorted(requirement.extras) for s in expand(extras[extra])]
            else:
                out.append(spec)
        return out

    return {"runtime": project["dependencies"]} | {k: expand(v) for k, v in extras.items()}


def _applies_here(marker: str | None) -> bool:
    return marker is None or Marker(marker).evaluate({"python_version": "3.11"})


@pytest.mark.parametrize(
    ("lock", "groups"),
    [(RUNTIME_LOCK, ("runtime", "all")), (DEV_LOCK, ("runtime", "all", "dev"))],
)
def test_the_lock_pins_every_declared_dependency_within_its_range(
    lock: Path, groups: tuple[str, ...]
) -> None:
    pins = _pins(lock)
    declared = [Requirement(spec) for group in groups for spec in _project()[group]]
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is in pyproject.toml but not in {lock.name}: make lock"
        for version, marker, _ in pins[name]:
            if _applies_here(marker):
                assert requirement.specifier.contains(version, prereleases=True), (
                    f"{lock.name} pins {name}=={version}, outside pyproject's {requirement}"
                )


def test_all_is_every_provider_extra_and_the_image_and_dev_install_it() -> None:
    # The provider SDKs are extras (providers/registry.py names each type's); `all` must
    # hold every one of them, or the image ships without a provider's SDK.
    groups = _project()
    provider_extras = set(groups) - {"runtime", "all", "dev"}
    assert provider_extras, "pyproject.toml declares no provider extras"
    assert sorted(groups["all"]) == sorted(s for e in provider_extras for s in groups[e])
    assert set(groups["all"]) <= set(groups["dev"])
    lock_script = (ROOT / "scripts" / "lock.sh").read_text().replace("\\\n", " ")
    compiles = [line for line in lock_script.splitlines() if "pip compile" in line]
    # The image's lock and the dev lock install every extra; the checkov lock is a tool's
    # own environment (tests/deploy), with none of the gateway's packages.
    outputs = {c.split(" -o ")[-1].split()[0]: "--extra all" in c for c in compiles}
    assert outputs == {
        "requirements.txt": True,
        "requirements-dev.txt": True,
        "requirements-checkov.txt": False,
    }, compiles


def test_every_provider_sdk_is_an_extra_the_registry_names() -> None:
    from gateway.tracing import TRACING_EXTRA
    from providers.registry import PROVIDER_KINDS
    from storage.routes import STORAGE_EXTRA

    groups = _project()
    named = {kind.extra for kind in PROVIDER_KINDS.values() if kind.extra is not None}
    # The object stores' SDKs are one more extra, named by the storage routes; OpenTelemetry
    # another, named by the tracing set-up.
    named |= {STORAGE_EXTRA, TRACING_EXTRA}
    assert named == set(groups) - {"runtime", "all", "dev"}
    base = {canonicalize_name(Requirement(spec).name) for spec in groups["runtime"]}
    for extra in named:
        for spec in groups[extra]:
            assert canonicalize_name(Requirement(spec).name) not in base, (
                f"{spec} is an extra ({extra}) and a base dependency: the extra saves nothing"
            )


def test_every_pin_carries_hashes() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        for name, entries in _pins(lock).items():
            for version, _, hashes in entries:
                assert hashes > 0, f"{lock.name}: {name}=={version} has no --hash"


def test_runtime_and_dev_locks_agree_on_every_shared_package() -> None:
    runtime, dev = _pins(RUNTIME_LOCK), _pins(DEV_LOCK)
    for name, entries in runtime.items():
        assert name in dev, f"{name} is pinned for the image but missing from the dev lock"
        assert {v for v, _, _ in entries} == {v for v, _, _ in dev[name]}, (
            f"{name}: requirements.txt and requirements-dev.txt pin different versions"
        )


def test_every_install_path_installs_from_the_lock() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "--require-hashes" in bootstrap and "-r requirements-dev.txt" in bootstrap
    assert "--no-deps" in bootstrap, "the project itself must not resolve its own dependencies"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.txt" in dockerfile
    assert "scripts/bootstrap.sh" in (ROOT / ".ci" / "run").read_text()
    # No other place installs packages by name, unpinned.
    for path in [ROOT / "Makefile", ROOT / ".ci" / "run", *ROOT.joinpath("scripts").glob("*.sh")]:
        commands = path.read_text().replace("\\\n", " ")
        for line in commands.splitlines():
            if "pip install" in line and not line.lstrip().startswith("#"):
                assert "-r requirements" in line or "--no-deps" in line, f"{path.name}: {line}"
