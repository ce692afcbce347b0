-- The macro series as known on each trading day: one row per date, one column per series, each the
-- latest value whose available_date is on or before the date (as-of, never by exact date). A value
-- older than macro_max_staleness_days is NULL instead of carried forward. The calendar is the
-- equity trading days plus up to regime_warmup_days index (^GSPC) days before the first price
-- date, so the 252-day windows are full from the start of the prices.
with

trading_days as (
    select date from {{ ref('int_trading_days_numbered') }}
),

observations as (
    select * from {{ ref('int_macro_observations_lagged') }}
),

index_days as (
    select observation_date as date from observations where series = '^GSPC'
),

-- Index days before the first price date are kept only as warm-up for the longest window.
first_trading_day as (
    select min(date) as first_date from trading_days
),

warmup_days as (
    select date from index_days, first_trading_day
    where date < first_date
    qualify row_number() over (order by date desc) <= {{ var('regime_warmup_days') }}
),

calendar as (
    select date, row_number() over (order by date) as day_index
    from (select date from trading_days union select date from warmup_days)
),

series as (
    select unnest(['VIXCLS', 'DGS2', 'DGS10', 'BAMLH0A0HYM2', '^GSPC']) as series
),

grid as (
    select calendar.date, calendar.day_index, series.series
    from calendar cross join series
),

known as (
    select
        grid.date,
        grid.day_index,
        grid.series,
        case
            when grid.date - observations.observation_date <= {{ var('macro_max_staleness_days') }}
            then observations.value
        end as value
    from grid
    asof left join observations
        on grid.series = observations.series and grid.date >= observations.available_date
),

final as (
    select
        date,
        day_index,
        max(value) filter (where series = 'VIXCLS') as vix,
        max(value) filter (where series = 'DGS2') as dgs2,
        max(value) filter (where series = 'DGS10') as dgs10,
        max(value) filter (where series = 'BAMLH0A0HYM2') as hy_spread,
        max(value) filter (where series = '^GSPC') as gspc
    from known
    group by date, day_index
)

select * from final
