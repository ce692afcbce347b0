-- The equal-weight universe return: one row per date, the mean 1-day return of every ticker with a
-- valid return that day (all observed at that day's close). Incremental: the new dates.
{{ incremental_config() }}

with

returns as (
    select * from {{ ref('int_returns_windowed') }}
    where {{ is_new_date() }}
),

final as (
    select date, avg(ret_1d) as market_ret_1d, count(ret_1d) as n_tickers
    from returns
    where ret_1d is not null
    group by date
)

select * from final
