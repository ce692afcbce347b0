-- Macro observations: one row per (series, observation date) that has a value.
-- Empty values (holidays in FRED files) are dropped here; the as-of join carries the last value.
with

source as (
    select * from {{ source('raw', 'macro') }}
),

renamed as (
    select
        cast(date as date) as observation_date,
        trim(series) as series,
        cast(value as double) as value
    from source
    where value is not null and not isnan(value)
),

final as (
    -- If a file repeats (series, date), keep one value deterministically (the last by value order)
    -- rather than fan out the as-of join.
    select series, observation_date, max(value) as value, count(distinct value) as n_values
    from renamed
    group by series, observation_date
)

select * from final
