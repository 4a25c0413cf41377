from libs.domain.codes import check_digit, is_prefecture, prefecture_of, validate_lg_code
from libs.domain.prefectures import PREFECTURE_NAMES, local_government_label, municipalities


def test_prefecture_names_follow_jis_x_0401():
    assert len(PREFECTURE_NAMES) == 47
    assert (PREFECTURE_NAMES["01"], PREFECTURE_NAMES["13"], PREFECTURE_NAMES["47"]) == ("北海道", "東京都", "沖縄県")


def test_local_governments_are_named_by_code():
    assert local_government_label("130001") == "東京都"
    assert local_government_label("131016") == "東京都千代田区"
    assert local_government_label("011011") == "北海道札幌市中央区"  # a ward of a designated city
    assert local_government_label("472158") == "沖縄県南城市"
    assert local_government_label("000000") is None  # the nation's code is no local government
    assert local_government_label("131017") is None  # wrong check digit
    assert local_government_label("not-a-code") is None


def test_a_municipality_the_list_does_not_know_is_named_by_its_prefecture_and_code():
    code = "13199" + str(check_digit("13199"))
    assert code not in municipalities()
    assert local_government_label(code) == f"東京都の市区町村 (地方公共団体コード {code})"


def test_the_municipality_list_is_whole_and_consistent():
    listed = municipalities()
    assert len(listed) > 1_900  # 1,741 市区町村 and the wards of the designated cities
    for code, municipality in listed.items():
        assert validate_lg_code(code) == municipality.code and not is_prefecture(code)
        assert prefecture_of(code)[:2] in PREFECTURE_NAMES
        assert municipality.name and municipality.kana
