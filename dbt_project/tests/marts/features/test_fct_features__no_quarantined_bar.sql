{{ config(meta={"dagster": {"ref": {"name": "fct_features"}}}) }}
-- Rule: a quarantined bar never appears in the features.
select features.ticker, features.date, quarantine.rule
from {{ ref('fct_features') }} as features
inner join {{ ref('quarantine') }} as quarantine using (ticker, date)
