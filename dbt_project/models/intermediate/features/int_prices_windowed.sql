-- Candle shape, trend, range volatility and oscillators from each ticker's adjusted OHLC bars.
-- One row per (ticker, date); NULL until each window is full; only the bar and earlier bars.
-- Incremental: new dates, from each ticker's last 260 valid bars (the longest window is 253).
{{ incremental_config() }}

with

prices as (
    select * from {{ with_lookback(ref('int_prices_validated'), 260) }}
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
        case when prev_close is not null then greatest(close - prev_close, 0) end as gain,
        case when prev_close is not null then greatest(prev_close - close, 0) end as loss,
        case when prev_close is not null
            then greatest(high - low, abs(high - prev_close), abs(low - prev_close))
        end as true_range
    from bars
),

windows as (
    select
        *,
        {{ rolling('avg', 'close', 5, nonnull_from=1) }} as ma_5,
        {{ rolling('avg', 'close', 20, nonnull_from=1) }} as ma_20,
        {{ rolling('avg', 'close', 50, nonnull_from=1) }} as ma_50,
        {{ rolling('avg', 'close', 200, nonnull_from=1) }} as ma_200,
        {{ rolling2('regr_slope', 'log_close', 'history_days', 20, nonnull_from=1) }} as slope_20,
        {{ rolling2('regr_r2', 'log_close', 'history_days', 20, nonnull_from=1) }} as r2_20,
        {{ rolling('avg', 'hl_log_sq', 20, nonnull_from=1) }} as hl_log_sq_20,
        {{ rolling('avg', 'garman_klass_term', 20, nonnull_from=1) }} as garman_klass_20,
        {{ rolling('avg', 'true_range', 14, nonnull_from=2) }} as atr_14,
        {{ rolling('avg', 'gain', 14, nonnull_from=2) }} as gain_14,
        {{ rolling('avg', 'loss', 14, nonnull_from=2) }} as loss_14,
        {{ rolling('min', 'low', 20, nonnull_from=1) }} as low_20,
        {{ rolling('max', 'high', 20, nonnull_from=1) }} as high_20,
        {{ rolling('min', 'low', 252, nonnull_from=1) }} as low_252,
        {{ rolling('max', 'high', 252, nonnull_from=1) }} as high_252
    from moves
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
        close / ma_5 as close_to_ma5,
        close / ma_20 as close_to_ma20,
        close / ma_50 as close_to_ma50,
        close / ma_200 as close_to_ma200,
        slope_20 as trend_slope_20d,
        r2_20 as trend_r2_20d,
        sqrt(hl_log_sq_20 / (4 * ln(2))) as parkinson_vol_20d,
        sqrt(greatest(garman_klass_20, 0)) as garman_klass_vol_20d,
        atr_14 / close as atr_14d_ratio,
        100 * (gain_14 / nullif(gain_14 + loss_14, 0)) as rsi_14,
        (close - low_20) / nullif(high_20 - low_20, 0) as rsv_20,
        close / high_252 - 1 as dist_high_252d,
        close / low_252 - 1 as dist_low_252d
    from windows
)

select * from final
where {{ is_new_date() }}
