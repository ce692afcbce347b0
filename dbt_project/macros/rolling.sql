{% macro rolling(agg, expr, n, partition_by='ticker', order_by='date', nonnull_from=none) -%}
    {#- agg(expr) over the last n rows, NULL until n non-null values are in the window. -#}
    case
        {% if nonnull_from is not none -%}
        when history_days >= {{ n + nonnull_from - 1 }}
        {%- else -%}
        when count({{ expr }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        ) = {{ n }}
        {%- endif %}
        then {{ agg }}({{ expr }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        )
    end
{%- endmacro %}

{% macro rolling2(agg, y, x, n, partition_by='ticker', order_by='date', nonnull_from=none) -%}
    {#- Two-argument aggregate (regr_slope, regr_r2, corr...) over the last n rows, NULL until full. -#}
    case
        {% if nonnull_from is not none -%}
        when history_days >= {{ n + nonnull_from - 1 }}
        {%- else -%}
        when regr_count({{ y }}, {{ x }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        ) = {{ n }}
        {%- endif %}
        then {{ agg }}({{ y }}, {{ x }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ n - 1 }} preceding and current row
        )
    end
{%- endmacro %}

{% macro cross_sectional_zscore(expr, partition_by='date') -%}
    {#- (expr - mean) / standard deviation over the non-null values of the same date. -#}
    ({{ expr }} - avg({{ expr }}) over (partition by {{ partition_by }}))
        / nullif(stddev_samp({{ expr }}) over (partition by {{ partition_by }}), 0)
{%- endmacro %}
