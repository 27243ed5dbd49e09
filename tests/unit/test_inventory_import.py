from realtime.pool.inventory import parse_inventory_csv

CSV = """number,region,city_code,kind,company_id,channel
+7 (495) 555-01-00,RU-MOW,495,,,
74955550101,RU-MOW,495,dynamic,,
not-a-number,RU-MOW,495,,,
+74955550100,RU-MOW,495,,,
+78125550100,Saint Petersburg,812,,,
+78125550101,RU-SPE,812,static,acme,offline/radio
+78125550102,RU-SPE,812,static,,
+78125550103,RU-SPE,812,dynamic,acme,
+78125550104,RU-SPE,812,virtual,,
"""


def test_good_rows_are_kept_and_each_bad_row_is_reported_by_line(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text(CSV)
    numbers, errors = parse_inventory_csv(path)
    assert [n.number for n in numbers] == ["+74955550100", "+74955550101", "+78125550101"]
    assert numbers[2].kind == "static" and numbers[2].channel == "offline/radio"
    assert [e.line for e in errors] == [4, 5, 6, 8, 9, 10]
    messages = " | ".join(e.message for e in errors)
    for fragment in (
        "not a valid phone",
        "repeats line 2",
        "ISO 3166-2",
        "needs company_id",
        "belong to the platform",
        "must be dynamic or static",
    ):
        assert fragment in messages


def test_a_file_without_the_required_columns_is_refused_whole(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("phone,city\n+74955550100,Moscow\n")
    numbers, errors = parse_inventory_csv(path)
    assert numbers == []
    assert errors[0].line == 1 and "number" in errors[0].message
