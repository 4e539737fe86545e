"""What a finished scan reports: how it ended, and the data it took.

Threads: made on the scan thread; read anywhere afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ['ScanResult']


@dataclass
class ScanResult:
    """How a scan ended: status is 'done', 'aborted' or 'failed'."""
    status: str
    message: str = ''
    npts: int = 0
    points_taken: int = 0
    scan_number: Optional[int] = None
    filename: Optional[str] = None
    labels: List[str] = field(default_factory=list)
    data: Dict[str, List[Any]] = field(default_factory=dict)
    #: The exception that ended a failed scan.
    error: Optional[BaseException] = field(default=None, repr=False)
