-- The point-in-time training panel: one row per (ticker, date, horizon) where the ticker passes
-- the universe filter on that date (history, price and liquidity known at that date's close) and
-- a label exists, with the ticker's Alpha158 features of that date (marts.fct_alpha158) when the
-- var alpha158 builds them ([training] feature_set alpha158 or all; it also picks the columns).
-- Models trained as of T use only rows with label_end_date <= T.
-- A view: it repeats every feature once per horizon, so storing it would triple the feature
-- table on disk for a join DuckDB does in about a second when it is read.
{{ config(materialized="view") }}

with

features as (
    select * from {{ ref('fct_features') }}
),

{% if var('alpha158', false) %}
alpha158 as (
    select * from {{ ref('fct_alpha158') }}
),
{% endif %}

labels as (
    select * from {{ ref('fct_labels') }}
),

universe as (
    select * from features where in_universe
),

final as (
    select universe.*,
           {% if var('alpha158', false) %}alpha158.* exclude (ticker, date),{% endif %}
           labels.horizon, labels.fwd_return, labels.fwd_excess_return, labels.entry_date, labels.label_end_date
    from universe
    {% if var('alpha158', false) %}left join alpha158 using (ticker, date){% endif %}
    inner join labels using (ticker, date)
)

select * from final
