-- Returns, momentum, volatility and liquidity over trailing windows of the ticker's valid days.
-- One row per (ticker, date). Windows count the ticker's valid trading days: a quarantined or
-- missing day is skipped, never filled. Every value is NULL until its window is full.
-- Incremental: new dates, from each ticker's last 260 valid bars (the longest window is 253).
{{ incremental_config() }}

with

prices as (
    select * from {{ with_lookback(ref('int_prices_validated'), 260) }}
),

daily as (
    select
        *,
        close / lag(close) over w - 1 as ret_1d,
        lag(close) over w as prev_close
    from prices
    window w as (partition by ticker order by date)
),

final as (
    select
        ticker,
        date,
        history_days,
        ret_1d,
        close / lag(close, 5) over w - 1 as ret_5d,
        close / lag(close, 10) over w - 1 as ret_10d,
        close / lag(close, 20) over w - 1 as ret_20d,
        close / lag(close, 60) over w - 1 as ret_60d,
        close / lag(close, 120) over w - 1 as ret_120d,
        close / lag(close, 252) over w - 1 as ret_252d,
        lag(close, 21) over w / lag(close, 252) over w - 1 as mom_12_1,
        {{ rolling('stddev_samp', 'ret_1d', 5, nonnull_from=2) }} as vol_5d,
        {{ rolling('stddev_samp', 'ret_1d', 20, nonnull_from=2) }} as vol_20d,
        {{ rolling('stddev_samp', 'ret_1d', 60, nonnull_from=2) }} as vol_60d,
        sqrt({{ rolling('avg', 'least(ret_1d, 0) ^ 2', 20, nonnull_from=2) }}) as downside_vol_20d,
        volume / {{ rolling('avg', 'volume', 20, nonnull_from=1) }} as volume_ratio_20d,
        {{ rolling('avg', 'dollar_volume', 20, nonnull_from=1) }} as dollar_volume_20d,
        ln({{ rolling('avg', 'dollar_volume', 20, nonnull_from=1) }}) as log_dollar_volume_20d,
        {{ rolling('avg', 'abs(ret_1d) / dollar_volume * 1e6', 20, nonnull_from=2) }} as amihud_20d
    from daily
    window w as (partition by ticker order by date)
)

select * from final
where {{ is_new_date() }}
