-- The trading calendar: one row per date on which any ticker has a bar (quarantined bars count:
-- the market was open). day_index numbers the dates from 1; labels step along it.
-- Read from the flagged table, not the staging view, so the deduplication runs once.
-- Incremental: new dates continue the numbering after the last built date.
{{ incremental_config() }}

with

prices as (
    select date from {{ ref('int_prices_flagged') }}
    where {{ is_new_date() }}
),

days as (
    select distinct date from prices
),

numbered_before as (
    {% if is_incremental() %}
    select coalesce(max(day_index), 0) as n from {{ this }}
    {% else %}
    select 0 as n
    {% endif %}
),

final as (
    select date, numbered_before.n + row_number() over (order by date) as day_index
    from days, numbered_before
)

select * from final
