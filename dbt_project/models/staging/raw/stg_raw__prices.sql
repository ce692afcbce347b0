-- Daily bars, typed and put on one price basis; exact duplicate rows dropped.
-- Where the input has adj_close, every OHLC field is scaled by adj_close / close so that opens,
-- highs and lows share the adjusted basis of the close; otherwise close is taken as adjusted.
with

source as (
    select * from {{ source('raw', 'prices') }}
),

renamed as (
    select distinct
        cast(date as date) as date,
        trim(ticker) as ticker,
        cast(open as double) as open_raw,
        cast(high as double) as high_raw,
        cast(low as double) as low_raw,
        cast(close as double) as close_raw,
        cast(volume as double) as volume,
        cast(adj_close as double) as adj_close_raw,
        coalesce(has_adj_close, false) as has_adj_close
    from source
),

final as (
    select
        *,
        case when has_adj_close then adj_close_raw / nullif(close_raw, 0) else 1.0 end as adj_factor,
        open_raw * adj_factor as open,
        high_raw * adj_factor as high,
        low_raw * adj_factor as low,
        close_raw * adj_factor as close
    from renamed
)

select * from final
