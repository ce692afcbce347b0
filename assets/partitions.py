"""Daily partitions keyed by market date (YYYY-MM-DD) for the date-stamped outputs.

Weekdays from 2005; a weekday that is not an NYSE session (a holiday) has no data and its
partition fails with a message saying so. The current day is a partition (end_offset=1) so the
daily schedule can run it after the close."""

import dagster as dg

MARKET_DATES = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5", start="2005-01-03", fmt="%Y-%m-%d", timezone="America/New_York", end_offset=1)
