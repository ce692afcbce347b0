-- Forward-return labels: one row per (ticker, date, horizon). The trade is entered at the
-- execution price (var label_price: next open by default, or next close) on the trading day after
-- date, and exited at the same price horizon trading days later. Both bars must be valid for the
-- ticker; nothing is forward-filled. label_end_date is the exit day: when the label becomes known.
-- Incremental: a daily run rebuilds the dates whose labels the new days can complete -- every
-- date from (longest horizon + 1) trading days before the last labelled date on.
{{ incremental_config() }}

with

prices as (
    select
        ticker,
        date,
        day_index,
        {% if var('label_price') == 'close' %} close {% else %} open {% endif %} as execution_price
    from {{ ref('int_prices_validated') }}
),

rebuilt_from as (
    {% if is_incremental() %}
    select coalesce((
        select max(day_index) - {{ var('label_horizons') | max }} - 1
        from prices
        where date = {{ last_built_date() }}
    ), 0) as day_index
    {% else %}
    select 0 as day_index
    {% endif %}
),

horizons as (
    select unnest({{ var('label_horizons') }}) as horizon
),

signals as (
    select
        prices.ticker,
        prices.date,
        horizons.horizon,
        prices.day_index + 1 as entry_index,
        prices.day_index + 1 + horizons.horizon as exit_index
    from prices
    cross join horizons
    where prices.day_index >= (select day_index from rebuilt_from)
),

trades as (
    select
        signals.ticker,
        signals.date,
        signals.horizon,
        entry.date as entry_date,
        exit.date as label_end_date,
        exit.execution_price / entry.execution_price - 1 as fwd_return
    from signals
    inner join prices as entry
        on entry.ticker = signals.ticker and entry.day_index = signals.entry_index
    inner join prices as exit
        on exit.ticker = signals.ticker and exit.day_index = signals.exit_index
),

final as (
    select
        ticker,
        date,
        horizon,
        fwd_return,
        fwd_return - avg(fwd_return) over (partition by date, horizon) as fwd_excess_return,
        entry_date,
        label_end_date
    from trades
)

select * from final
