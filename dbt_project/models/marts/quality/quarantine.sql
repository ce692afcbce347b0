-- Quarantined bars: one row per (ticker, date, rule) that a bar broke, with a readable detail.
-- These bars never reach features or labels.
with

flagged as (
    select * from {{ ref('int_prices_flagged') }}
),

broken as (
    select ticker, date, 'missing_value' as rule, bar_detail as detail
    from flagged where is_missing_value
    union all
    select ticker, date, 'nonpositive_price', bar_detail from flagged where is_nonpositive_price
    union all
    select ticker, date, 'ohlc_inconsistent', bar_detail from flagged where is_ohlc_inconsistent
    union all
    select ticker, date, 'nonpositive_volume', bar_detail from flagged where is_nonpositive_volume
    union all
    select ticker, date, 'duplicate_conflict', n_versions || ' different rows for this ticker and date'
    from flagged where is_duplicate_conflict
    union all
    select ticker, date, 'close_jump',
        'close=' || round(close, 6) || ' is ' || round(close_jump_ratio, 4)
        || 'x the median of the last 5 valid closes (' || round(reference_close, 6) || ')'
    from flagged where is_close_jump
),

final as (
    select * from broken
)

select * from final
