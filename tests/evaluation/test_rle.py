"""RLE helpers: compressed <-> uncompressed round trip and the decode-free validity check."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from querytrack.core.rle import encode_masks, to_compressed, to_uncompressed
from querytrack.core.rle_check import compressed_rle_valid


def _random_rles(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = rng.integers(1, 40, 2)
        out += encode_masks((rng.random((h, w)) < rng.random())[None])
    return out


def test_uncompressed_round_trip() -> None:
    for r in _random_rles(30):
        u = to_uncompressed(r)
        assert isinstance(u["counts"], list)
        back = to_compressed(u, *u["size"])
        np.testing.assert_array_equal(mask_utils.decode(back), mask_utils.decode(r))


def test_validity_check_accepts_valid_and_flags_corrupt() -> None:
    rles = _random_rles(60, seed=1)
    assert compressed_rle_valid(rles).all()
    truncated = [{"size": r["size"], "counts": r["counts"][:-1]} for r in rles if len(r["counts"]) > 1]
    assert not compressed_rle_valid(truncated).any()
    wrong_size = [{"size": [r["size"][0] + 1, r["size"][1]], "counts": r["counts"]} for r in rles]
    assert not compressed_rle_valid(wrong_size).any()
    junk = {"size": [4, 4], "counts": "\x7f\x7f!!"}
    mixed = compressed_rle_valid([rles[0], junk, rles[1]])
    assert mixed.tolist() == [True, False, True]


def _reference_counts(s: str) -> list[int] | None:
    """Plain re-statement of pycocotools' string decoding (maskApi.c rleFrString); None if unterminated."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                return None
            c = ord(s[p]) - 48
            if not 0 <= c <= 63:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _reference_valid(r: dict) -> bool:
    c = _reference_counts(r["counts"])
    if c is None or not c:
        return False
    return min(c) >= 0 and sum(c) == r["size"][0] * r["size"][1]


def test_validity_check_matches_reference_parser_on_corruptions() -> None:
    rng = np.random.default_rng(3)
    rles = _random_rles(400, seed=2)
    bad = []
    for r in rles:
        c = r["counts"]
        j = int(rng.integers(len(c)))
        c2 = c[:j] + chr(int(rng.integers(48, 112))) + c[j + 1 :]
        if rng.random() < 0.3:
            c2 = c[:-1]
        bad.append({"size": r["size"], "counts": c2})
    got = compressed_rle_valid(bad)
    want = np.array([_reference_valid(b) for b in bad])
    np.testing.assert_array_equal(got, want)
    assert 0 < want.sum() < len(want)  # both outcomes exercised


def test_chunked_threaded_check_equals_one_pass(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from querytrack.core import rle_check

    rles = _random_rles(50, seed=3)
    mixed = [
        r if i % 3 else {"size": r["size"], "counts": r["counts"][:-1] + "\x7f"} for i, r in enumerate(rles)
    ]
    whole = rle_check.compressed_rle_valid(mixed)
    monkeypatch.setattr(rle_check, "CHUNK", 7)  # 8 chunks, split mid-way through runs of valid strings
    for workers in (1, 2):
        np.testing.assert_array_equal(rle_check.compressed_rle_valid(mixed, workers=workers), whole)
    assert 0 < whole.sum() < len(whole)


def test_pixel_boxes_match_the_decoded_masks() -> None:
    """Boxes from the runs (toBbox) equal the extent of the decoded mask, edges included; empty gives zeros."""
    from querytrack.core.rle import compress_many, decode_fortran, encode_uncompressed, pixel_boxes

    g = np.random.default_rng(0)
    h, w = 13, 17
    masks = [np.zeros((h, w), dtype=bool) for _ in range(6)]
    masks[0][0, 0] = True
    masks[1][h - 1, w - 1] = True
    masks[2][:, 5] = True  # a full column: the run continues into the next column's start
    masks[3][:] = True
    masks[4][3:9, 2:15] = g.random((6, 13)) < 0.5
    # masks[5] stays empty
    rles = compress_many([encode_uncompressed(m) for m in masks], h, w)
    decoded = decode_fortran(rles, h, w)
    assert decoded.shape == (h, w, 6) and decoded.flags.f_contiguous
    boxes = pixel_boxes(rles)
    assert boxes.dtype == np.float32 and boxes.shape == (6, 4)
    for k, m in enumerate(masks):
        assert np.array_equal(decoded[:, :, k], m)
        if m.any():
            ys, xs = np.nonzero(m)
            assert boxes[k].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        else:
            assert boxes[k].tolist() == [0, 0, 0, 0]
    assert pixel_boxes([]).shape == (0, 4) and decode_fortran([], h, w).shape == (h, w, 0)


def _unpack(planes: np.ndarray, count: int) -> np.ndarray:
    """Bit planes ``[ceil(K / 8), ...]`` -> ``[K, ...]`` 0/1 uint8 (mask k = bit k % 8 of plane k // 8)."""
    return np.stack([(planes[k // 8] >> (k % 8)) & 1 for k in range(count)])


def test_decode_column_bits_equals_pycocotools() -> None:
    """Any column window of uncompressed / compressed RLE and polygons, runs crossing the window's edges."""
    from querytrack.core.rle import decode_column_bits, encode_compressed, encode_uncompressed

    rng = np.random.default_rng(1)
    for _ in range(100):
        h, w = (int(x) for x in rng.integers(1, 16, 2))
        masks = [rng.random((h, w)) < rng.random() for _ in range(3)]
        masks[0][:, : w // 2] = True  # runs spanning several columns
        segms = [encode_uncompressed(masks[0]), encode_uncompressed(masks[1]), encode_compressed(masks[2])]
        segms.append([[0.0, 0.0, w / 2, 0.0, w / 2, h / 2]])  # a polygon
        poly = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(segms[3], h, w))).astype(bool)
        full = np.stack([*masks, poly]).transpose(0, 2, 1)  # [K, W, H]
        start = int(rng.integers(0, w))
        stop = int(rng.integers(start, w + 1))
        segms, full = segms * 3, np.concatenate([full] * 3)  # 12 masks: two bit planes
        bits = decode_column_bits(segms, h, w, start, stop)
        assert bits.dtype == np.uint8 and bits.flags.c_contiguous and bits.shape == (2, stop - start, h)
        assert np.array_equal(_unpack(bits, len(segms)), full[:, start:stop])
    assert decode_column_bits([], 4, 5, 0, 5).shape == (0, 5, 4)


def test_decode_column_bits_disjoint_masks_and_long_runs() -> None:
    """Non-overlapping masks take the copy path; a run longer than the fill buffer the NumPy one."""
    from querytrack.core.rle import _FILL_LENGTH, decode_column_bits, encode_uncompressed

    rng = np.random.default_rng(2)
    h, w = 300, 300
    labels = rng.integers(0, 5, (h, w))  # 0 = background, masks 1..4
    labels[:, :250] = 1  # mask 0 is one run of 75,000 pixels
    assert 250 * h > _FILL_LENGTH
    masks = [labels == k for k in range(1, 5)]
    segms = [encode_uncompressed(m) for m in masks]
    for start, stop in ((0, w), (249, 251), (260, 300)):
        out = _unpack(decode_column_bits(segms, h, w, start, stop), len(segms))
        assert np.array_equal(out, np.stack(masks).transpose(0, 2, 1)[:, start:stop])


def test_to_uncompressed_many_equals_one_by_one_and_refuses_malformed() -> None:
    import pytest

    from querytrack.core.rle import to_uncompressed_many

    rles = _random_rles(40, seed=9)
    mixed = [to_uncompressed(r) if i % 3 == 0 else r for i, r in enumerate(rles)]
    assert to_uncompressed_many(mixed) == [to_uncompressed(r) for r in mixed]
    assert to_uncompressed_many([]) == []
    with pytest.raises(ValueError, match="malformed"):
        to_uncompressed_many([rles[0], {"size": [4, 4], "counts": "\x7f\x7f!!"}])


def _encode_counts(counts: list[int]) -> str:
    """Any integer counts as a pycocotools string (maskApi.c rleToString), negative ones included."""
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(48 + (c | 0x20 if more else c)))
    return "".join(out)


def test_validity_and_area_of_counts_that_dip_below_zero() -> None:
    """Counts that add up to h x w but go negative anywhere (first count, either delta chain, a long number) are
    refused; the others get their odd counts' sum as area. Strings of odd and even length are mixed so that
    each string's chains start on both parities of the concatenated numbers."""
    from querytrack.core.rle_check import parse_compressed

    rng = np.random.default_rng(4)
    lists = [[2, 3, -1, 1, 4], [-1, 5, 5], [0, 9], [9], [1 << 20, 3, 1, 2], [4, 0, 0, 5], [3, -2, 8]]
    for _ in range(200):
        counts = rng.integers(-3 if rng.random() < 0.3 else 0, 40000, size=int(rng.integers(1, 9))).tolist()
        lists.append(counts)
    rles = [{"size": [1, sum(c)] if sum(c) >= 0 else [1, 1], "counts": _encode_counts(c)} for c in lists]
    parsed = parse_compressed(rles)
    want = np.array([_reference_valid(r) for r in rles])
    np.testing.assert_array_equal(parsed.valid, want)
    assert not want[:2].any() and want[2:6].all() and 0 < want.sum() < len(want)
    areas = [sum(c[1::2]) for c in lists]
    np.testing.assert_array_equal(parsed.area[want], np.array(areas)[want])
