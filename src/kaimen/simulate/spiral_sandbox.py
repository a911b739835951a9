"""`kaimen sandbox spiral`'s one service call: run the sandbox, write its report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaimen.domain.profiles import Profile
from kaimen.simulate.spiral import SpiralReport, SpiralSettings, run_spiral
from kaimen.simulate.spiral_report import ReportFiles, write_report


@dataclass(frozen=True)
class SandboxOutcome:
    report: SpiralReport
    files: ReportFiles


def spiral_sandbox(settings: SpiralSettings, profile: Profile, folder: Path) -> SandboxOutcome:
    """Run the two couplings on the seeded world and write the table and plot to `folder`."""
    report = run_spiral(settings, profile)
    return SandboxOutcome(report, write_report(report, folder))
