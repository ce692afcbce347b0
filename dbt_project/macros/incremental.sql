{#-
  Incremental runs of the price path. A daily run appends the new trading dates: each incremental
  model builds only the dates after the last date already in its own table, reading just enough
  earlier rows of each ticker to fill its longest trailing window. Anything else that changed
  (a restated bar, a new ticker's history, the SQL, the vars) needs a full refresh; the Dagster
  dbt asset decides which (assets/dbt.py), and a full refresh gives the same tables.
-#}

{% macro incremental_config(unique_key='date') -%}
    {{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=unique_key) }}
{%- endmacro %}


{% macro last_built_date() -%}
    {#- The last date in this model's table (incremental runs only); an empty table builds all. -#}
    (select coalesce(max(date), date '0001-01-01') from {{ this }})
{%- endmacro %}


{% macro is_new_date(date_column='date') -%}
    {#- True for the dates this run builds: every date in a full build, the dates after the last
        built one in an incremental run. -#}
    {%- if is_incremental() -%}
    {{ date_column }} > {{ last_built_date() }}
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}


{% macro with_lookback(relation, rows) -%}
    {#- The rows of `relation` (which has ticker, date, history_days) that this run needs: all of
        them in a full build; in an incremental run the new dates plus, per ticker, the last `rows`
        rows before them -- at least the longest trailing window of the model. -#}
    {%- if is_incremental() -%}
    (
        select source_rows.*
        from {{ relation }} as source_rows
        left join (
            select ticker, max(history_days) as built_history_days
            from {{ relation }}
            where date <= {{ last_built_date() }}
            group by ticker
        ) as built using (ticker)
        where source_rows.date > {{ last_built_date() }}
            or source_rows.history_days > built.built_history_days - {{ rows }}
    )
    {%- else -%}
    {{ relation }}
    {%- endif -%}
{%- endmacro %}
