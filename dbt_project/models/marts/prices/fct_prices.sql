-- Validated daily bars on the adjusted basis with the liquidity measure the trade planner needs.
-- One row per (ticker, date) that passed every quality rule.
-- Incremental: new dates, from each ticker's last 25 valid bars (the ADV window is 20).
{{ incremental_config() }}

with

validated as (
    select * from {{ with_lookback(ref('int_prices_validated'), 25) }}
),

final as (
    select
        ticker,
        date,
        open,
        high,
        low,
        close,
        volume,
        -- 20-day average volume in shares, NULL until 10 bars exist (ADV for the liquidity rule)
        case
            when count(volume) over trailing_20 >= 10 then avg(volume) over trailing_20
        end as adv_20d_shares
    from validated
    window trailing_20 as (partition by ticker order by date rows between 19 preceding and current row)
)

select * from final
where {{ is_new_date() }}
