"""Reading an operation's log by byte offset, forwards and backwards: what a page that keeps a
window and loads earlier lines on demand relies on. Paging back from the end, in any page
size, gives every line once, in order; so does reading forward from any line's end."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from machete_core.oplog import lines_before, read_lines

LINE = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(LINE, max_size=200), count=st.integers(1, 50), partial=st.booleans())
def test_paging_back_and_reading_on_cover_every_line_once(
    tmp_path_factory: object, lines: list[str], count: int, partial: bool
) -> None:
    path = Path(str(tmp_path_factory.mktemp("log"))) / "op.log"  # type: ignore[attr-defined]
    text = "".join(f"{line}\n" for line in lines) + ("half a line" if partial else "")
    path.write_bytes(text.encode())
    # Backwards from the end, a page at a time, as "Load earlier lines" does.
    got: list[str] = []
    before = path.stat().st_size
    while True:
        page = lines_before(path, before, count + 1)
        if len(page) > count:
            got[:0] = [t for t, _ in page[1:]]
            before = page[0][1]
        else:
            got[:0] = [t for t, _ in page]
            break
    assert got == lines  # a line still being written is not a line yet
    # Forwards from any line's end, as a reconnecting stream does.
    ends = [end for _t, end in read_lines(path, 0, limit=1 << 20)]
    for i, end in enumerate(ends[:20]):
        assert [t for t, _ in read_lines(path, end, limit=1 << 20)] == lines[i + 1 :]


def test_pages_wider_than_the_read_chunk(tmp_path: Path) -> None:
    """A page of 3,000 lines of a 300 KB log spans several of the reader's 64 KiB chunks."""
    lines = [f"line {i:06d} {'é' * (i % 7)}" for i in range(20_000)]
    path = tmp_path / "op.log"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    got: list[str] = []
    before = path.stat().st_size
    while before:
        page = lines_before(path, before, 3001)
        if len(page) > 3000:
            got[:0] = [t for t, _ in page[1:]]
            before = page[0][1]
        else:
            got[:0] = [t for t, _ in page]
            before = 0
    assert got == lines
