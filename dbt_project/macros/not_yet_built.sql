{#- Incremental filter of the batch-grained operations marts: keep the batches whose id is not in the mart yet
    (a new window, or a new version of a corrected one, which delete+insert then replaces whole). -#}
{% macro not_yet_built(batch_id_column) -%}
    {%- if is_incremental() -%}
        not exists (select 1 from {{ this }} as built where built.batch_id = {{ batch_id_column }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
