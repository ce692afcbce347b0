-- Bars that passed every quality rule, on the adjusted basis, numbered per ticker and placed on
-- the trading calendar. Everything downstream (features, labels) reads only these rows.
with

flagged as (
    select * from {{ ref('int_prices_flagged') }}
),

calendar as (
    select * from {{ ref('int_trading_days_numbered') }}
),

valid as (
    select ticker, date, open, high, low, close, close_raw, volume
    from flagged
    where is_valid
),

final as (
    select
        valid.*,
        calendar.day_index,
        row_number() over (partition by valid.ticker order by valid.date) as history_days,
        valid.close_raw * valid.volume as dollar_volume
    from valid
    inner join calendar using (date)
)

select * from final
