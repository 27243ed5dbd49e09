{#-
    Fails with one row per combination of `combination_of_columns` that occurs
    more than once. Nulls count as equal, as in `group by`. Written here rather
    than taken from dbt_utils because the project must build without packages.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(',\n    ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
