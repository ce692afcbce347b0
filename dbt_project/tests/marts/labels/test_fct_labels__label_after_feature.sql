-- Rule: a label starts after its feature date and becomes known later still
-- (date < entry_date <= label_end_date). Returns the rows that break it.
select *
from {{ ref('fct_labels') }}
where not (entry_date > date and label_end_date >= entry_date and label_end_date > date)
