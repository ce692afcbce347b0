-- Every (ticker, date) bar with one flag per quality rule. Each rule looks at the bar itself, the
-- other versions of the same (ticker, date), and earlier bars of the ticker only: point-in-time.
-- Incremental: a daily run flags the new dates, with the last five closes that passed the row
-- rules read back from this table for the close-jump reference.
{{ incremental_config() }}

with

prices as (
    select * from {{ ref('stg_raw__prices') }}
    where {{ is_new_date() }}
),

versioned as (
    select *, count(*) over (partition by ticker, date) as n_versions
    from prices
),

deduplicated as (
    select * from versioned
    qualify row_number() over (
        partition by ticker, date order by open, high, low, close, volume
    ) = 1
),

row_rules as (
    select
        *,
        (open is null or high is null or low is null or close is null or volume is null
            or (has_adj_close and adj_close_raw is null)) as is_missing_value,
        coalesce(least(open, high, low, close) <= 0 or adj_close_raw <= 0, false) as is_nonpositive_price,
        coalesce(high < greatest(open, close, low) or low > least(open, close, high), false)
            as is_ohlc_inconsistent,
        coalesce(volume <= 0, false) as is_nonpositive_volume,
        n_versions > 1 as is_duplicate_conflict,
        'open=' || coalesce(open_raw::varchar, 'NULL') || ' high=' || coalesce(high_raw::varchar, 'NULL')
            || ' low=' || coalesce(low_raw::varchar, 'NULL') || ' close=' || coalesce(close_raw::varchar, 'NULL')
            || ' volume=' || coalesce(volume::varchar, 'NULL') as bar_detail
    from deduplicated
),

row_valid as (
    select
        *,
        not (is_missing_value or is_nonpositive_price or is_ohlc_inconsistent
            or is_nonpositive_volume or is_duplicate_conflict) as passes_row_rules
    from row_rules
),

-- The reference close is the median of the ticker's last five closes that passed the row rules.
-- A one- or two-day decimal shift cannot move that median, so the glitch is caught and the day it
-- reverts is not; a genuine level change is accepted after three days instead of never.
closes as (
    select *, case when passes_row_rules then close end as valid_close, false as is_earlier
    from row_valid
    {% if is_incremental() %}
    union all by name
    select ticker, date, close as valid_close, true as is_earlier
    from {{ this }}
    where passes_row_rules
    qualify row_number() over (partition by ticker order by date desc) <= 5
    {% endif %}
),

referenced as (
    select
        *,
        list_median([
            lag(valid_close, 1 ignore nulls) over w,
            lag(valid_close, 2 ignore nulls) over w,
            lag(valid_close, 3 ignore nulls) over w,
            lag(valid_close, 4 ignore nulls) over w,
            lag(valid_close, 5 ignore nulls) over w
        ]) as reference_close
    from closes
    window w as (partition by ticker order by date)
),

final as (
    select
        * exclude (valid_close, is_earlier),
        close / reference_close as close_jump_ratio,
        passes_row_rules and coalesce(
            close / reference_close > {{ var('close_jump_max_ratio') }}
            or close / reference_close < {{ var('close_jump_min_ratio') }},
            false
        ) as is_close_jump,
        passes_row_rules and not is_close_jump as is_valid
    from referenced
    where not is_earlier
)

select * from final
