-- Instruments: one row per ticker seen in the prices, with its sector ('Unknown' when the sectors
-- file has none), and its first and last valid dates.
with

instruments as (
    select * from {{ ref('stg_raw__instruments') }}
),

prices as (
    select * from {{ ref('int_prices_validated') }}
),

spans as (
    select ticker, min(date) as first_date, max(date) as last_date, count(*) as valid_days
    from prices
    group by ticker
),

final as (
    select
        spans.ticker,
        coalesce(instruments.sector, 'Unknown') as sector,
        instruments.name,
        spans.first_date,
        spans.last_date,
        spans.valid_days
    from spans
    left join instruments using (ticker)
)

select * from final
