-- Macro observations with the date from which they may be used: the observation date moved
-- forward by the publication lag in business days (Mon-Fri). With the default lag of one, a
-- Friday (or weekend) value is usable from Monday, a Wednesday value from Thursday.
with

observations as (
    select * from {{ ref('stg_raw__macro_observations') }}
),

bounds as (
    select min(observation_date) as first_day, max(observation_date) as last_day from observations
),

business_days as (
    select
        cast(day as date) as business_day,
        row_number() over (order by day) as business_day_index
    from bounds,
        generate_series(
            first_day - interval 7 day,
            last_day + interval ({{ var('macro_publication_lag_days') }} * 2 + 14) day,
            interval 1 day
        ) as t(day)
    where dayofweek(day) between 1 and 5
),

-- The last business day on or before each observation date.
anchored as (
    select observations.*, business_days.business_day_index
    from observations
    asof join business_days on observations.observation_date >= business_days.business_day
),

final as (
    select
        anchored.series,
        anchored.observation_date,
        anchored.value,
        greatest(anchored.observation_date, shifted.business_day) as available_date
    from anchored
    inner join business_days as shifted
        on shifted.business_day_index = anchored.business_day_index + {{ var('macro_publication_lag_days') }}
)

select * from final
