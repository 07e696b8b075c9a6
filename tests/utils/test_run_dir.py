from utils.run_dir import increment_path


def test_folders_count_up_and_exist_ok_reuses(tmp_path):
    first = increment_path(tmp_path / "exp", mkdir=True)
    assert first == tmp_path / "exp" and first.is_dir()
    assert increment_path(tmp_path / "exp", mkdir=True) == tmp_path / "exp2"
    assert increment_path(tmp_path / "exp") == tmp_path / "exp3"  # not created without mkdir
    assert increment_path(tmp_path / "exp", exist_ok=True) == tmp_path / "exp"


def test_files_keep_their_suffix(tmp_path):
    (tmp_path / "results.csv").write_text("")
    assert increment_path(tmp_path / "results.csv") == tmp_path / "results2.csv"


def test_missing_parents_are_created(tmp_path):
    path = increment_path(tmp_path / "runs" / "val" / "exp", mkdir=True)
    assert path.is_dir()
