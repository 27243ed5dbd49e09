{#-
    Fails with every row of the model for which `expression` is not true, e.g.
    `expression: "deals = 0 or leads > 0"`. Same contract as dbt_utils', kept in
    the project because the project must build without packages.
-#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
