-- Market-relative features: 60-day beta and idiosyncratic volatility against the equal-weight
-- universe, and the 20-day return in excess of the ticker's sector mean on the same date.
-- Incremental: new dates, from each ticker's last 70 rows (the longest window is 60).
{{ incremental_config() }}

with

returns as (
    select * from {{ with_lookback(ref('int_returns_windowed'), 70) }}
),

market as (
    select * from {{ ref('int_market_returns_averaged') }}
),

instruments as (
    select * from {{ ref('stg_raw__instruments') }}
),

joined as (
    select
        returns.ticker,
        returns.date,
        returns.history_days,
        returns.ret_1d,
        returns.ret_20d,
        market.market_ret_1d,
        coalesce(instruments.sector, 'Unknown') as sector
    from returns
    left join market using (date)
    left join instruments using (ticker)
),

final as (
    select
        ticker,
        date,
        sector,
        {{ rolling2('regr_slope', 'ret_1d', 'market_ret_1d', 60, nonnull_from=2) }} as beta_60d,
        {{ rolling('stddev_samp', 'ret_1d', 60, nonnull_from=2) }}
            * sqrt(greatest(1 - {{ rolling2('regr_r2', 'ret_1d', 'market_ret_1d', 60, nonnull_from=2) }}, 0)) as idio_vol_60d,
        ret_20d - avg(ret_20d) over (partition by date, sector) as ret_20d_vs_sector
    from joined
)

select * from final
where {{ is_new_date() }}
