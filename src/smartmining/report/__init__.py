"""The report stage: tables, figures and REPORT.md built only from the run logs (see build.py)."""

from __future__ import annotations

from smartmining.report.build import build_report

__all__ = ["build_report"]
