-- Bars that passed every quality rule, on the adjusted basis, numbered per ticker and placed on
-- the trading calendar. Everything downstream (features, labels) reads only these rows.
-- Incremental: new dates continue each ticker's history_days after its last built bar.
{{ incremental_config() }}

with

flagged as (
    select * from {{ ref('int_prices_flagged') }}
    where {{ is_new_date() }}
),

calendar as (
    select * from {{ ref('int_trading_days_numbered') }}
),

history_before as (
    {% if is_incremental() %}
    select ticker, max(history_days) as n from {{ this }} group by ticker
    {% else %}
    select null::varchar as ticker, 0 as n where false
    {% endif %}
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
        coalesce(history_before.n, 0)
            + row_number() over (partition by valid.ticker order by valid.date) as history_days,
        valid.close_raw * valid.volume as dollar_volume
    from valid
    inner join calendar using (date)
    left join history_before using (ticker)
)

select * from final
