-- The trading calendar: one row per date on which any ticker has a bar (quarantined bars count:
-- the market was open). day_index numbers the dates from 1; labels step along it.
-- Read from the flagged table, not the staging view, so the deduplication runs once.
with

prices as (
    select date from {{ ref('int_prices_flagged') }}
),

days as (
    select distinct date from prices
),

final as (
    select date, row_number() over (order by date) as day_index
    from days
)

select * from final
