-- Forward-return labels: one row per (ticker, date, horizon), two labels side by side. The trade
-- is entered on the trading day after date and exited horizon trading days later: fwd_return at
-- the opens (the price the pipeline's orders execute at), fwd_return_close at the closes
-- (close t+1 -> close t+1+h). Both bars must be valid for the ticker; nothing is forward-filled.
-- label_end_date is the exit day: when both labels become known. Which label a model is fitted
-- and judged on is the training config's label_price.
-- Incremental: a daily run rebuilds the dates whose labels the new days can complete -- every
-- date from (longest horizon + 1) trading days before the last labelled date on.
{{ incremental_config() }}

with

prices as (
    select
        ticker,
        date,
        day_index,
        open,
        close
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
        exit.open / entry.open - 1 as fwd_return,
        exit.close / entry.close - 1 as fwd_return_close
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
        fwd_return_close,
        fwd_return_close - avg(fwd_return_close) over (partition by date, horizon) as fwd_excess_return_close,
        entry_date,
        label_end_date
    from trades
)

select * from final
