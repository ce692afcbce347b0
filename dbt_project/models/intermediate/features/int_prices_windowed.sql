-- Candle shape, trend, range volatility and oscillators from each ticker's adjusted OHLC bars.
-- One row per (ticker, date); NULL until each window is full; only the bar and earlier bars.
with

prices as (
    select * from {{ ref('int_prices_validated') }}
),

bars as (
    select
        *,
        lag(close) over (partition by ticker order by date) as prev_close,
        ln(close) as log_close,
        ln(high / low) ^ 2 as hl_log_sq,
        0.5 * ln(high / low) ^ 2 - (2 * ln(2) - 1) * ln(close / open) ^ 2 as garman_klass_term
    from prices
),

moves as (
    select
        *,
        greatest(close - prev_close, 0) as gain,
        greatest(prev_close - close, 0) as loss,
        greatest(high - low, abs(high - prev_close), abs(low - prev_close)) as true_range
    from bars
),

final as (
    select
        ticker,
        date,
        (close - open) / open as kmid,
        (high - low) / open as klen,
        (high - greatest(open, close)) / open as kup,
        (least(open, close) - low) / open as klow,
        (2 * close - high - low) / open as ksft,
        close / {{ rolling('avg', 'close', 5) }} as close_to_ma5,
        close / {{ rolling('avg', 'close', 20) }} as close_to_ma20,
        close / {{ rolling('avg', 'close', 50) }} as close_to_ma50,
        close / {{ rolling('avg', 'close', 200) }} as close_to_ma200,
        {{ rolling2('regr_slope', 'log_close', 'history_days', 20) }} as trend_slope_20d,
        {{ rolling2('regr_r2', 'log_close', 'history_days', 20) }} as trend_r2_20d,
        sqrt({{ rolling('avg', 'hl_log_sq', 20) }} / (4 * ln(2))) as parkinson_vol_20d,
        sqrt(greatest({{ rolling('avg', 'garman_klass_term', 20) }}, 0)) as garman_klass_vol_20d,
        {{ rolling('avg', 'true_range', 14) }} / close as atr_14d_ratio,
        100 * {{ rolling('avg', 'gain', 14) }}
            / nullif({{ rolling('avg', 'gain', 14) }} + {{ rolling('avg', 'loss', 14) }}, 0) as rsi_14,
        (close - {{ rolling('min', 'low', 20) }})
            / nullif({{ rolling('max', 'high', 20) }} - {{ rolling('min', 'low', 20) }}, 0) as rsv_20,
        close / {{ rolling('max', 'high', 252) }} - 1 as dist_high_252d,
        close / {{ rolling('min', 'low', 252) }} - 1 as dist_low_252d
    from moves
)

select * from final
