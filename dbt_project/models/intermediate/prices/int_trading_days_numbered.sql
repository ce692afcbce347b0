-- The trading calendar: one row per date on which any ticker has a bar (quarantined bars count:
-- the market was open). day_index numbers the dates from 1; labels step along it.
with

prices as (
    select * from {{ ref('stg_raw__prices') }}
),

days as (
    select distinct date from prices
),

final as (
    select date, row_number() over (order by date) as day_index
    from days
)

select * from final
