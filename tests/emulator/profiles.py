"""Milvus release profiles of the emulator: how each release answers the import routes, as data.

Read from shared/spec/milvus-import-apis.md section 6. A profile is a set of :class:`ImportEmulator`
knobs plus the facts it pins; ``ImportEmulator(profile="2.5")`` applies them (explicit knobs still win).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLOUD_PROFILES",
    "GRPC_ONLY_PROFILES",
    "OUTCOMES",
    "PROFILES",
    "REST_PROFILES",
    "ReleaseProfile",
    "profile",
]


@dataclass(frozen=True)
class ReleaseProfile:
    """One Milvus release (or Zilliz Cloud variant) as the import routes show it."""

    name: str
    mode: str = "rest"
    knobs: dict[str, Any] = field(default_factory=dict)
    #: The section-6 facts this profile pins, for the closing table.
    facts: tuple[str, ...] = ()
    #: True where a legacy gRPC shim over the v2 jobs answers on the same port (Milvus 2.4+).
    legacy_grpc: bool = False

    @property
    def two_phase(self) -> bool:
        """True on servers with ``auto_commit`` / ``commit`` / ``abort`` (Milvus 3.0)."""
        return bool(self.knobs.get("two_phase"))


_V24 = {"file_name_format": "protobuf", "create_time": False, "progress_bands": "v2"}
_V25 = {"file_name_format": "slice", "create_time": False, "progress_bands": "v2"}
_V26_LATE = {
    **_V25,
    "create_time": True,
    "file_retry": True,
    "not_found_code": 2101,
    "invalid_id_code": 1100,
    "job_limit_code": 2101,
}

PROFILES: dict[str, ReleaseProfile] = {
    p.name: p
    for p in (
        ReleaseProfile(
            "2.4.0",
            knobs={**_V24, "describe_routed": False},
            facts=(
                "only get_progress (describe 404)",
                'fileName protobuf text id:.. paths:".."',
                "no createTime",
                "not found 2100",
                "job limit 2100",
            ),
            legacy_grpc=True,
        ),
        ReleaseProfile(
            "2.4.13",
            knobs={**_V24, "describe_routed": True},
            facts=("describe backported", "fileName protobuf text", "no createTime", "not found 2100"),
            legacy_grpc=True,
        ),
        ReleaseProfile(
            "2.5",
            knobs=dict(_V25),
            facts=(
                "describe + get_progress",
                "fileName Go slice [a b]",
                "no createTime",
                "not found 2100",
                "non-numeric id 2100",
            ),
            legacy_grpc=True,
        ),
        ReleaseProfile(
            "2.6-early",
            knobs={**_V25, "file_retry": True, "job_limit_code": 2101},
            facts=("per-file Retry", "not found 2100", "job limit 2101", "no createTime"),
            legacy_grpc=True,
        ),
        ReleaseProfile(
            "2.6-late",
            knobs=dict(_V26_LATE),
            facts=("createTime (2.6.6+)", "not found 2101", "non-numeric id 1100", "job limit 2101", "per-file Retry"),
            legacy_grpc=True,
        ),
        ReleaseProfile(
            "3.0",
            knobs={**_V26_LATE, "two_phase": True},
            facts=(
                "two-phase: auto_commit, Uncommitted at 99, Committing, commit, abort",
                "createTime",
                "not found 2101",
                "non-numeric id 1100",
            ),
            legacy_grpc=True,
        ),
        ReleaseProfile(
            "cloud-getProgress",
            mode="cloud",
            knobs={"cloud_get_progress_routed": True, "cloud_describe_routed": False},
            facts=("Zilliz Cloud: only getProgress",),
        ),
        ReleaseProfile(
            "cloud-describe",
            mode="cloud",
            knobs={"cloud_get_progress_routed": False, "cloud_describe_routed": True},
            facts=("Zilliz Cloud: only describe (pymilvus 3.0, Go SDK)",),
        ),
        ReleaseProfile(
            "cloud-both",
            mode="cloud",
            knobs={"cloud_get_progress_routed": True, "cloud_describe_routed": True},
            facts=("Zilliz Cloud: getProgress and describe",),
        ),
    )
}

#: What each self-hosted release answers to gRPC ``GetVersion``.
_VERSIONS = {"2.4.0": "v2.4.0", "2.4.13": "v2.4.13", "2.5": "v2.5.10", "2.6-early": "v2.6.3", "2.6-late": "v2.6.20"}
_VERSIONS["3.0"] = "v3.0.1"
for _name, _version in _VERSIONS.items():
    PROFILES[_name].knobs["server_version"] = _version
# Idempotency keys (spec section 7, reported): from 2.6.24 and 3.0.2 a repeated key answers the first job.
PROFILES["2.6.24"] = ReleaseProfile(
    "2.6.24",
    knobs={**_V26_LATE, "idempotency": True, "server_version": "v2.6.24"},
    facts=("idempotency key honoured (Idempotency-Key, ImportRequest field 9)", "createTime", "not found 2101"),
    legacy_grpc=True,
)
PROFILES["3.0.2"] = ReleaseProfile(
    "3.0.2",
    knobs={**_V26_LATE, "two_phase": True, "idempotency": True, "server_version": "v3.0.2"},
    facts=("idempotency key honoured", "two-phase", "createTime", "not found 2101"),
    legacy_grpc=True,
)
#: Milvus 2.3: no REST v2 routes, only its own gRPC (tests/emulator/grpc_server.py ``release="2.3"``). Kept out of
#: PROFILES, whose releases all serve REST v2.
GRPC_ONLY_PROFILES: dict[str, ReleaseProfile] = {
    "2.3": ReleaseProfile(
        "2.3",
        knobs={
            "rest_v2": False,
            "retention": 86_400.0,
            "retention_from": "created",
            "restart_fails_running": True,
            "create_time": False,
        },
        facts=(
            "no REST v2 (404)",
            "gRPC ids and infos of its own",
            "retention 86400 s from creation",
            'not found 1000 "key not found"',
            "restart fails running tasks",
        ),
        legacy_grpc=True,
    )
}
REST_PROFILES = tuple(name for name, p in PROFILES.items() if p.mode == "rest")
CLOUD_PROFILES = tuple(name for name, p in PROFILES.items() if p.mode == "cloud")


def profile(name: str) -> ReleaseProfile:
    """The profile called ``name``, or a ValueError listing them."""
    try:
        return PROFILES[name] if name in PROFILES else GRPC_ONLY_PROFILES[name]
    except KeyError:
        names = ", ".join([*PROFILES, *GRPC_ONLY_PROFILES])
        raise ValueError(f"unknown release profile {name!r}; use one of {names}") from None


@dataclass
class OutcomeTally:
    """Final outcomes per profile against the truth the emulator holds; printed at the end of the session."""

    seen: dict[str, Counter[str]] = field(default_factory=dict)

    def record(self, profile_name: str, status: str, truth: str) -> None:
        """Count one final outcome (``status``) of a job whose real end is ``truth`` (success or failed)."""
        row = self.seen.setdefault(profile_name, Counter())
        row["waits"] += 1
        if status == "success" and truth != "success":
            row["false_successes"] += 1
        if status == "failed" and truth != "failed":
            row["false_failures"] += 1

    def table(self) -> list[str]:
        """One line per profile: waits, false successes, false failures."""
        if not self.seen:
            return []
        lines = ["", "=== release profiles: final outcomes vs the emulator's truth ==="]
        for name, row in self.seen.items():
            lines.append(
                f"{name:<34} waits {row['waits']:>3}  false successes {row['false_successes']}  "
                f"false failures {row['false_failures']}"
            )
        return lines


OUTCOMES = OutcomeTally()
