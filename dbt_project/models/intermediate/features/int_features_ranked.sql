-- Per-date cross-sectional percentile ranks of the main features: one row per (ticker, date).
-- Computed on a narrow projection: window sorts carry only the ranked columns.
with

returns as (
    select * from {{ ref('int_returns_windowed') }}
),

bars as (
    select * from {{ ref('int_prices_windowed') }}
),

relative as (
    select * from {{ ref('int_returns_regressed') }}
),

narrow as (
    select
        returns.ticker, returns.date, returns.ret_5d, returns.ret_20d, returns.mom_12_1,
        returns.vol_20d, returns.volume_ratio_20d, bars.rsi_14, relative.beta_60d
    from returns
    inner join bars using (ticker, date)
    inner join relative using (ticker, date)
),

final as (
    select
        ticker,
        date,
        {{ cross_sectional_rank('ret_5d') }} as rank_ret_5d,
        {{ cross_sectional_rank('ret_20d') }} as rank_ret_20d,
        {{ cross_sectional_rank('mom_12_1') }} as rank_mom_12_1,
        {{ cross_sectional_rank('vol_20d') }} as rank_vol_20d,
        {{ cross_sectional_rank('volume_ratio_20d') }} as rank_volume_ratio_20d,
        {{ cross_sectional_rank('rsi_14') }} as rank_rsi_14,
        {{ cross_sectional_rank('beta_60d') }} as rank_beta_60d
    from narrow
)

select * from final
