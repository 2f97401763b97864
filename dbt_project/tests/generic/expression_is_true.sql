{#- Fails with every row for which the SQL boolean `expression` is false (null counts as true, like a CHECK).
    At column level the expression names the column itself, e.g. "volume_mw > 0". -#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
