{#- Exclusive groups of block orders: per order set, the steps of one block are all accepted or all rejected, and
    at most one block is accepted. Fails with one row per offending order set. `column_name` is the block column;
    rows where it is null (any other strategy) are ignored. -#}
{% test block_accepted_whole_and_alone(model, column_name) %}

with

blocks as (

    select
        order_set_id,
        {{ column_name }} as block_index,
        bool_and(is_accepted) as is_all_accepted,
        bool_or(is_accepted) as is_any_accepted
    from {{ model }}
    where {{ column_name }} is not null
    group by order_set_id, {{ column_name }}

)

select
    order_set_id,
    count(*) filter (where is_any_accepted) as accepted_block_count,
    count(*) filter (where is_any_accepted and not is_all_accepted) as partly_accepted_block_count
from blocks
group by order_set_id
having
    count(*) filter (where is_any_accepted) > 1
    or count(*) filter (where is_any_accepted and not is_all_accepted) > 0

{% endtest %}
