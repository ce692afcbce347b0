-- Market-regime features: one row per trading date, from the macro series as known that day
-- (as-of with the publication lag) and the ^GSPC index level. NULL until each window is full.
with

macro as (
    select * from {{ ref('int_macro_series_asof') }}
),

levels as (
    select
        *,
        ln(gspc / lag(gspc) over (order by date)) as gspc_log_ret_1d,
        dgs10 - dgs2 as term_spread
    from macro
),

vix_percentiles as (
    -- Share of the last 252 trading days (this one included) whose VIX is at or below today's.
    select
        today.date,
        case when count(past.vix) = 252
            then count(past.vix) filter (where past.vix <= today.vix) / 252.0
        end as vix_pct_252d
    from levels as today
    inner join levels as past
        on past.day_index between today.day_index - 251 and today.day_index
    where today.vix is not null
    group by today.date
),

final as (
    select
        levels.date,
        levels.vix,
        vix_percentiles.vix_pct_252d,
        {{ rolling('stddev_samp', 'gspc_log_ret_1d', 20, partition_by='1') }} * sqrt(252) as gspc_vol_20d,
        gspc / lag(gspc, 20) over (order by date) - 1 as gspc_ret_20d,
        gspc / lag(gspc, 60) over (order by date) - 1 as gspc_ret_60d,
        gspc / {{ rolling('max', 'gspc', 252, partition_by='1') }} - 1 as gspc_drawdown_252d,
        term_spread,
        term_spread - lag(term_spread, 20) over (order by date) as term_spread_chg_20d,
        hy_spread,
        hy_spread - lag(hy_spread, 20) over (order by date) as hy_spread_chg_20d,
        vix - lag(vix, 5) over (order by date) as vix_chg_5d
    from levels
    left join vix_percentiles using (date)
)

select * from final
