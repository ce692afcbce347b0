-- Rule: every training row's label becomes known strictly after its feature date.
select ticker, date, horizon, label_end_date
from {{ ref('fct_training_panel') }}
where label_end_date <= date
