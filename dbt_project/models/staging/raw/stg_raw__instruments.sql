-- Instruments: one row per ticker with its sector; tickers without a sector get 'Unknown'.
with

source as (
    select * from {{ source('raw', 'instruments') }}
),

renamed as (
    select
        trim(ticker) as ticker,
        coalesce(nullif(trim(sector), ''), 'Unknown') as sector,
        nullif(trim(name), '') as name
    from source
    where ticker is not null
),

final as (
    select * from renamed
    qualify row_number() over (partition by ticker order by sector, name) = 1
)

select * from final
