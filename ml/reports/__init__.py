"""Reports: the daily report (data, HTML, files) and the PNG charts every report uses.

Modules by job: ``data`` (:class:`ReportData` and its checks), ``formatting`` (how every value
is written for people), ``html`` (rendering), ``files`` (:func:`write_report`,
:func:`render_report`) and ``charts``.
"""

from ml.reports.charts import (
    REGIME_COLOURS,
    TIMELINE_COLOURS,
    drawdown_chart,
    equity_chart,
    ic_chart,
    line_chart,
    regime_chart,
    regime_timeline,
)
from ml.reports.data import (
    IC_COLUMNS,
    REASON_COLUMNS,
    SIGNAL_COLUMNS,
    TOP_DRIFTED_FEATURES,
    TRADE_COLUMNS,
    WEIGHT_COLUMNS,
    ReportData,
)
from ml.reports.files import (
    FILES,
    render_report,
    report_folder,
    write_report,
)
from ml.reports.formatting import PERCENT_METRICS

__all__ = [
    "drawdown_chart",
    "equity_chart",
    "FILES",
    "ic_chart",
    "IC_COLUMNS",
    "line_chart",
    "PERCENT_METRICS",
    "REASON_COLUMNS",
    "regime_chart",
    "REGIME_COLOURS",
    "regime_timeline",
    "render_report",
    "report_folder",
    "ReportData",
    "SIGNAL_COLUMNS",
    "TIMELINE_COLOURS",
    "TOP_DRIFTED_FEATURES",
    "TRADE_COLUMNS",
    "WEIGHT_COLUMNS",
    "write_report",
]
