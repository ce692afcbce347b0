-- The feature table: one row per (ticker, date) with a valid bar, every feature known at that
-- date's close. Per-ticker windows and market-relative features are joined here, and the main
-- features are standardized across the tickers of each date. Incremental: the new dates.
{{ incremental_config() }}

with

prices as (
    select ticker, date, close, close_raw from {{ ref('int_prices_validated') }}
    where {{ is_new_date() }}
),

returns as (
    select * from {{ ref('int_returns_windowed') }}
    where {{ is_new_date() }}
),

bars as (
    select * from {{ ref('int_prices_windowed') }}
    where {{ is_new_date() }}
),

relative as (
    select * from {{ ref('int_returns_regressed') }}
    where {{ is_new_date() }}
),

joined as (
    select *
    from prices
    inner join returns using (ticker, date)
    inner join bars using (ticker, date)
    inner join relative using (ticker, date)
),

final as (
    select
        *,
        {{ cross_sectional_zscore('ret_5d') }} as zscore_ret_5d,
        {{ cross_sectional_zscore('ret_20d') }} as zscore_ret_20d,
        {{ cross_sectional_zscore('mom_12_1') }} as zscore_mom_12_1,
        {{ cross_sectional_zscore('vol_20d') }} as zscore_vol_20d,
        {{ cross_sectional_zscore('volume_ratio_20d') }} as zscore_volume_ratio_20d,
        {{ cross_sectional_zscore('rsi_14') }} as zscore_rsi_14,
        {{ cross_sectional_zscore('beta_60d') }} as zscore_beta_60d,
        coalesce(
            history_days >= {{ var('universe_min_history_days') }}
            and close_raw >= {{ var('universe_min_price') }}
            and dollar_volume_20d >= {{ var('universe_min_dollar_volume_20d') }},
            false
        ) as in_universe
    from joined
)

select * from final
