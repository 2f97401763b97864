{#- The feed batches of the operations marts (int_feed_batches_latest: the newest version of every feed window). -#}


{#- Body of the `latest_batches` CTE: the newest batches of `feeds` (a name or a list). `only_new`: on an incremental
    build, only the batches not in the mart yet (new, or newly corrected; the mart rebuilds them whole). -#}
{% macro latest_feed_batches(feeds, only_new=false) -%}
    {%- set feed_list = [feeds] if feeds is string else feeds -%}
    select * from {{ ref('int_feed_batches_latest') }} as latest
    where
        {% if feed_list | length == 1 -%}
            feed = '{{ feed_list[0] }}'
        {%- else -%}
            feed in ('{{ feed_list | join("', '") }}')
        {%- endif %}
        {%- if only_new %}
        and {{ not_yet_built('latest.batch_id') }}
        {%- endif %}
{%- endmacro %}


{#- The rows of `staged` (a staging model with a batch_id) in the `latest_batches` CTE, with the batch columns
    `batch_columns` after them. -#}
{% macro latest_batch_rows(staged, batch_columns=[]) -%}
    select
        stg.*
        {%- for column in batch_columns %},
        latest_batches.{{ column }}
        {%- endfor %}
    from {{ staged }} as stg
    inner join latest_batches on stg.batch_id = latest_batches.batch_id
{%- endmacro %}
