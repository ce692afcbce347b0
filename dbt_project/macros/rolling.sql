{% macro rolling(agg, expr, n, partition_by='ticker', order_by='date') -%}
    {#- agg(expr) over the last n rows, NULL until n non-null values are in the window. -#}
    case
        when count({{ expr }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        ) = {{ n }}
        then {{ agg }}({{ expr }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        )
    end
{%- endmacro %}

{% macro rolling2(agg, y, x, n, partition_by='ticker', order_by='date') -%}
    {#- Two-argument aggregate (regr_slope, regr_r2, corr...) over the last n rows, NULL until full. -#}
    case
        when regr_count({{ y }}, {{ x }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        ) = {{ n }}
        then {{ agg }}({{ y }}, {{ x }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        )
    end
{%- endmacro %}

{% macro cross_sectional_rank(expr, partition_by='date') -%}
    {#- Percentile rank in [0, 1] of expr among the non-null values of the same date. -#}
    case
        when {{ expr }} is not null
        then percent_rank() over (partition by {{ partition_by }}, ({{ expr }}) is null order by {{ expr }})
    end
{%- endmacro %}
