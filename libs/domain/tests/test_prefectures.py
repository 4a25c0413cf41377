from libs.domain.prefectures import PREFECTURE_NAMES, local_government_label


def test_all_47_prefectures_are_named_in_jis_order():
    assert len(PREFECTURE_NAMES) == 47
    assert (PREFECTURE_NAMES["01"], PREFECTURE_NAMES["13"], PREFECTURE_NAMES["47"]) == ("北海道", "東京都", "沖縄県")


def test_a_local_government_code_reads_as_its_prefecture_and_a_municipality_keeps_its_code():
    assert local_government_label("130001") == "東京都"
    assert local_government_label("131016") == "東京都の市区町村 (地方公共団体コード 131016)"
    assert local_government_label("000000") is None  # the nation's code is no local government
    assert local_government_label("131017") is None  # wrong check digit
    assert local_government_label("not-a-code") is None
