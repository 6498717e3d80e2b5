"""The course manifest is parsed once and parsed again only when the file changes."""

import os

from rlhf_edu.grading.manifest import default_manifest_path, load_manifest


def test_the_manifest_is_parsed_once_and_again_after_a_change(tmp_path):
    path = tmp_path / "course.toml"
    text = default_manifest_path().read_text()
    path.write_text(text)
    first = load_manifest(path)
    assert load_manifest(path) is first  # the same parsed object: no second parse
    path.write_text(text.replace('title = "', 'title = "Changed: ', 1))
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    assert load_manifest(path) is not first
