"""Intel/AMD RAPL energy counters through Linux powercap (``/sys/class/powercap``).

Rules (see docs/energy.md): top-level package zones only (core/uncore subzones are *inside* the
package and never summed into it); ``dram`` and ``psys`` reported as their own components;
``intel-rapl-mmio`` zones dropped when the MSR interface reports the same domain; per-die zones
that mirror one counter kept once; ``energy_uj`` wrap-around corrected with
``max_energy_range_uj``; a counter we may not read is reported as unreadable, never as zero.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.energy.backends.base import ComponentSpec, EnergyBackend, ProbeEntry, ProbeStatus
from core.errors import EnergyBackendError
from core.units import UJ_PER_J

POWERCAP_ROOT = Path("/sys/class/powercap")
UNREADABLE_HINT = "unreadable: needs root or a udev rule (docs/energy.md)"
_ZONE_RE = re.compile(r"^(intel-rapl(?:-mmio)?):(\d+)(?::(\d+))?$")
_PACKAGE_RE = re.compile(r"^package-(\d+)(?:-die-(\d+))?$")
# Wrap guard: poll often enough that a counter cannot wrap twice between two reads, assuming no
# domain draws more than this (a 2-socket server package tops out well below it).
_MAX_DOMAIN_POWER_W = 1000.0

ReadText = Callable[[Path], str]


def read_sysfs(path: Path) -> str:
    """Read a sysfs attribute. The filesystem boundary; tests inject their own."""
    with open(path, encoding="ascii") as f:
        return f.read()


@dataclass(frozen=True)
class RaplDomain:
    """One counter we will read."""

    component: str  # "cpu_package:0", "cpu_package:0/die:1", "dram:0", "psys"
    path: Path  # the zone directory
    zone: str  # "intel-rapl:0"
    zone_name: str  # the zone's ``name`` attribute, "package-0"
    max_energy_range_uj: int


@dataclass(frozen=True)
class _Zone:
    path: Path
    zone: str
    interface: str  # "intel-rapl" or "intel-rapl-mmio"
    parent: str | None  # "intel-rapl:0" for subzone "intel-rapl:0:1"
    name: str


@dataclass(frozen=True)
class RaplDiscovery:
    """The readable domains and everything learned on the way."""

    domains: tuple[RaplDomain, ...]
    status: ProbeStatus
    notes: tuple[str, ...]


def _list_zones(root: Path, read_text: ReadText, notes: list[str]) -> list[_Zone]:
    zones: list[_Zone] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        match = _ZONE_RE.match(entry.name)
        if not match:
            continue  # control-type directories ("intel-rapl") and non-RAPL zones
        interface, pkg, sub = match.groups()
        try:
            name = read_text(entry / "name").strip()
        except FileNotFoundError:
            notes.append(f"{entry.name}: no 'name' attribute; zone skipped")
            continue
        except PermissionError:
            notes.append(f"{entry.name}/name {UNREADABLE_HINT}")
            continue
        parent = f"{interface}:{pkg}" if sub is not None else None
        zones.append(_Zone(entry, entry.name, interface, parent, name))
    return zones


def _drop_mmio_duplicates(zones: list[_Zone], notes: list[str]) -> list[_Zone]:
    msr_names = {z.name for z in zones if z.interface == "intel-rapl" and z.parent is None}
    kept = []
    for z in zones:
        if z.interface == "intel-rapl-mmio" and z.name in msr_names:
            notes.append(f"{z.zone} ({z.name}) duplicates the MSR zone of the same name; dropped")
            continue
        kept.append(z)
    return kept


def _component_for(zone: _Zone, by_zone: Mapping[str, _Zone]) -> str | None:
    """The component name of a zone, or None for subzones inside a package (core, uncore)."""
    if zone.parent is None:
        pkg = _PACKAGE_RE.match(zone.name)
        if pkg:
            die = pkg.group(2)
            return f"cpu_package:{pkg.group(1)}" + (f"/die:{die}" if die is not None else "")
        if zone.name == "psys":
            return "psys"
        if zone.name == "dram":
            return f"dram:{zone.zone.rsplit(':', 1)[1]}"
        return None
    if zone.name == "dram":  # DRAM is powered outside the package: its own component
        parent = by_zone.get(zone.parent)
        pkg = _PACKAGE_RE.match(parent.name) if parent else None
        return f"dram:{pkg.group(1) if pkg else zone.parent.rsplit(':', 1)[1]}"
    return None


def _open_domain(
    zone: _Zone, component: str, read_text: ReadText, notes: list[str]
) -> tuple[RaplDomain | None, bool]:
    """(domain, permission_denied) for one zone."""
    try:
        int(read_text(zone.path / "energy_uj"))
        max_uj = int(read_text(zone.path / "max_energy_range_uj"))
    except PermissionError:
        notes.append(f"{zone.zone} ({zone.name}) energy_uj {UNREADABLE_HINT}")
        return None, True
    except FileNotFoundError as e:
        notes.append(f"{zone.zone} ({zone.name}): missing {Path(str(e.filename)).name}; skipped")
        return None, False
    except ValueError:
        notes.append(f"{zone.zone} ({zone.name}): energy_uj is not an integer; skipped")
        return None, False
    except OSError as e:  # e.g. ENODATA from a hypervisor that exposes but blocks the MSR
        notes.append(f"{zone.zone} ({zone.name}) energy_uj unreadable ({e}); skipped")
        return None, False
    if max_uj <= 0:
        notes.append(f"{zone.zone} ({zone.name}): max_energy_range_uj={max_uj}; skipped")
        return None, False
    return RaplDomain(component, zone.path, zone.zone, zone.name, max_uj), False


def _drop_mirrored_dies(
    domains: list[RaplDomain], read_text: ReadText, notes: list[str]
) -> list[RaplDomain]:
    """Keep one of a package's per-die zones when they all show the same counter."""
    groups: dict[str, list[RaplDomain]] = {}
    for d in domains:
        if "/die:" in d.component:
            groups.setdefault(d.component.split("/", 1)[0], []).append(d)
    mirrored: set[str] = set()
    for package, dies in groups.items():
        # Two passes: a real per-die counter never equals its sibling to the microjoule twice
        # in a row, a mirror does (allowing one pass to straddle an update).
        try:
            passes = [{int(read_text(d.path / "energy_uj")) for d in dies} for _ in range(2)]
        except (OSError, ValueError):  # readable a moment ago; keep every die, say nothing more
            continue
        if len(dies) > 1 and any(len(values) == 1 for values in passes):
            mirrored.add(package)
            notes.append(
                f"{package}: {len(dies)} per-die zones mirror one counter; "
                f"kept {dies[0].zone} ({dies[0].zone_name}) only"
            )
    kept = []
    for d in domains:
        package = d.component.split("/", 1)[0]
        if package not in mirrored:
            kept.append(d)
        elif d is groups[package][0]:  # the mirror's one kept copy stands for the package
            kept.append(RaplDomain(package, d.path, d.zone, d.zone_name, d.max_energy_range_uj))
    return kept


def discover(root: Path = POWERCAP_ROOT, read_text: ReadText = read_sysfs) -> RaplDiscovery:
    """Find the RAPL package / dram / psys counters under ``root`` that this process can read."""
    if not root.is_dir():
        return RaplDiscovery((), "absent", (
            f"{root} not found (not Linux, or no powercap driver: try `modprobe intel_rapl_msr`)",
        ))
    notes: list[str] = []
    zones = _drop_mmio_duplicates(_list_zones(root, read_text, notes), notes)
    by_zone = {z.zone: z for z in zones}
    domains: list[RaplDomain] = []
    denied = False
    for zone in zones:
        component = _component_for(zone, by_zone)
        if component is None:
            continue
        domain, was_denied = _open_domain(zone, component, read_text, notes)
        denied = denied or was_denied
        if domain is not None:
            domains.append(domain)
    domains = _drop_mirrored_dies(domains, read_text, notes)
    if any(d.component.startswith(("cpu_package", "psys")) for d in domains):
        return RaplDiscovery(tuple(domains), "used", tuple(notes))
    if denied:
        return RaplDiscovery((), "unreadable", tuple(notes))
    if not zones:
        notes.append(f"no RAPL zones under {root}")
    return RaplDiscovery((), "absent", tuple(notes))


class RaplBackend(EnergyBackend):
    """Cumulative joules of RAPL domains, wrap-around corrected. Machine scope."""

    name = "rapl"

    def __init__(self, discovery: RaplDiscovery, read_text: ReadText = read_sysfs) -> None:
        super().__init__()
        if not discovery.domains:
            raise EnergyBackendError(
                "RaplBackend needs at least one readable domain; use rapl.discover() first and "
                "fall back to the CPU model when it finds none"
            )
        self._discovery = discovery
        self._read_text = read_text
        self._lock = threading.Lock()
        self._last_uj = {d.component: self._raw(d) for d in discovery.domains}
        self._total_uj = dict.fromkeys(self._last_uj, 0)
        smallest_range_j = min(d.max_energy_range_uj for d in discovery.domains) / UJ_PER_J
        # Half the time the fastest plausible draw needs to wrap the smallest counter.
        self.poll_interval_s = smallest_range_j / _MAX_DOMAIN_POWER_W / 2.0

    def _raw(self, domain: RaplDomain) -> int:
        try:
            return int(self._read_text(domain.path / "energy_uj"))
        except (OSError, ValueError) as e:
            raise EnergyBackendError(
                f"reading {domain.path / 'energy_uj'} failed ({e}); the counter was readable at "
                "probe time: check that the powercap driver was not unloaded"
            ) from e

    def specs(self) -> Mapping[str, ComponentSpec]:
        return {
            d.component: ComponentSpec(
                d.component, "counter", f"powercap {d.zone} ({d.zone_name})", "machine"
            )
            for d in self._discovery.domains
        }

    def read(self) -> dict[str, float]:
        with self._lock:
            for d in self._discovery.domains:
                raw = self._raw(d)
                # Counters run 0..max_energy_range_uj and then restart at 0.
                delta = (raw - self._last_uj[d.component]) % (d.max_energy_range_uj + 1)
                self._total_uj[d.component] += delta
                self._last_uj[d.component] = raw
            return {k: v / UJ_PER_J for k, v in self._total_uj.items()}

    def probe_entry(self) -> ProbeEntry:
        used = ", ".join(f"{d.component}={d.zone}" for d in self._discovery.domains)
        extra = "; ".join(self._discovery.notes)
        return ProbeEntry("rapl", "used", used + (f"; {extra}" if extra else ""))
