-- The feature table: one row per (ticker, date) with a valid bar. Per-ticker windows come from
-- the intermediate models; per-date cross-sectional ranks of the main features are added here.
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

prices as (
    select ticker, date, close, close_raw from {{ ref('int_prices_validated') }}
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
        {{ cross_sectional_rank('ret_5d') }} as rank_ret_5d,
        {{ cross_sectional_rank('ret_20d') }} as rank_ret_20d,
        {{ cross_sectional_rank('mom_12_1') }} as rank_mom_12_1,
        {{ cross_sectional_rank('vol_20d') }} as rank_vol_20d,
        {{ cross_sectional_rank('volume_ratio_20d') }} as rank_volume_ratio_20d,
        {{ cross_sectional_rank('rsi_14') }} as rank_rsi_14,
        {{ cross_sectional_rank('beta_60d') }} as rank_beta_60d
    from joined
)

select * from final
