-- The feature table: one row per (ticker, date) with a valid bar, every feature known at that
-- date's close. Per-ticker windows, market-relative features and per-date ranks are joined here.
with

prices as (
    select ticker, date, close, close_raw from {{ ref('int_prices_validated') }}
),

returns as (
    select * from {{ ref('int_returns_windowed') }}
),

bars as (
    select * from {{ ref('int_prices_windowed') }}
),

relative as (
    select * from {{ ref('int_returns_regressed') }}
),

ranks as (
    select * from {{ ref('int_features_ranked') }}
),

final as (
    select *
    from prices
    inner join returns using (ticker, date)
    inner join bars using (ticker, date)
    inner join relative using (ticker, date)
    inner join ranks using (ticker, date)
)

select * from final
