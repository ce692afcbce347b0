{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Schemas are the layer names (staging, intermediate, marts): the names analysts query. -#}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
