"""The official COCO QueryInst checkpoints, by name: where each file is, how it is checked, what model it fits.

``init_checkpoint=NAME`` (resolved by :mod:`querytrack.checkpoints.download`) accepts the names below and the
short aliases of :data:`ALIASES`. Every value comes from the two places that publish these files; nothing is
measured or guessed here:

- mmdetection's five files: open-mmlab/mmdetection ``configs/queryinst/metafile.yml`` (model name, config,
  epochs, ``box AP`` / ``mask AP`` on COCO, weights URL) and ``configs/queryinst/README.md`` (number of proposals,
  multi-scale / crop columns). The URLs end in ``-<8 hex>.pth``: the first 8 hex digits of the file's sha256
  (torch.hub's convention); mmdetection publishes no full sha256, so the prefix is the check.
- hustvl/QueryInst's three files: hustvl/QueryInst ``README.md`` ("Main Results on COCO val": config, Google
  Drive link, box AP, mask AP). No hash is published; Google Drive serves them only to a browser, so they are
  fetched by hand (see :mod:`querytrack.checkpoints.download`). Their number of proposals is that of their config
  (``num_proposals = 300`` in ``configs/queryinst/queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco.py``
  and ``queryinst_swin_large_patch4_window7_fpn_300_proposals_crop_mstrain_480-800_3x_coco.py``, which the R101 and
  the 400-1200 Swin-L configs inherit).

All eight have 6 stages (``num_stages = 6`` in hustvl/QueryInst ``configs/queryinst/queryinst_r50_fpn_1x_coco.py``,
the base of every QueryInst config in both repositories) and 80 COCO classes; all are in mmdetection's parameter
naming, loaded by :func:`querytrack.checkpoints.mmdet.load_mmdet_checkpoint` (the Swin-L file in the original
Swin naming, renamed by :mod:`querytrack.checkpoints.swin`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from querytrack.checkpoints.class_map import COCO_CATEGORIES

#: A file name ending in ``-<hex>.<suffix>``: the sha256 of the file starts with ``<hex>`` (torch.hub's
#: convention, as in mmdetection's and torchvision's URLs). At least 8 hex digits, so that a date or version
#: (``model-2021.pt``) is not read as a hash.
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")

MMDET_SOURCE = "open-mmlab/mmdetection configs/queryinst/metafile.yml"
HUSTVL_SOURCE = "hustvl/QueryInst README.md"


def hash_prefix_of(filename: str) -> str | None:
    """The sha256 prefix a file name carries (``...-5a8f1998.pth`` → ``5a8f1998``), or None."""
    m = HASH_IN_NAME.search(filename)
    return m.group(1) if m else None


def url_filename(url: str) -> str:
    """The last path component of ``url`` (the name the file is cached under, as torch.hub does)."""
    return urlparse(url).path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class CheckpointEntry:
    """One published COCO QueryInst checkpoint.

    Attributes:
        name: the ``init_checkpoint`` value that selects it.
        url: where it is published (a direct download, or a Google Drive page when ``manual``).
        sha256: the full sha256 when published (none of the official files has one), else None.
        source: ``owner/repo path`` where ``url``, the figures and the config are published.
        config: the config file the checkpoint was trained with (in the repository of ``source``).
        backbone: the ``backbone=`` option it fits (``conf/backbone/<backbone>.yaml``).
        num_stages: cascade stages of the checkpoint's heads.
        num_queries: learned proposals (``model.num_queries``).
        epochs: COCO training epochs.
        box_ap: COCO val2017 box AP as published.
        mask_ap: COCO val2017 mask AP as published.
        manual: the file cannot be fetched by a program (Google Drive); the user places it in the cache.
        num_classes: classifier rows (80, COCO's categories in id order).
    """

    name: str
    url: str
    sha256: str | None
    source: str
    config: str
    backbone: str
    num_stages: int
    num_queries: int
    epochs: int
    box_ap: float
    mask_ap: float
    manual: bool = False
    num_classes: int = 80

    @property
    def filename(self) -> str:
        """The file name in the weights cache: the URL's for a direct download, ``<name>.pth`` for a manual one."""
        return f"{self.name}.pth" if self.manual else url_filename(self.url)

    @property
    def hash_prefix(self) -> str | None:
        """The sha256 prefix in the URL's file name (None for manual files)."""
        return None if self.manual else hash_prefix_of(url_filename(self.url))

    @property
    def expected_sha256(self) -> str | None:
        """What the downloaded file's sha256 must start with: the full hash if known, else the name's prefix."""
        return self.sha256 or self.hash_prefix

    @property
    def class_names(self) -> tuple[str, ...]:
        """The checkpoint's classifier rows in order: the 80 COCO categories (``class_map.COCO_CATEGORIES``)."""
        return tuple(name for _, name in COCO_CATEGORIES)


_MMDET_BASE = "https://download.openmmlab.com/mmdetection/v2.0/queryinst"


def _mmdet(
    name: str, stamp: str, backbone: str, queries: int, epochs: int, box: float, mask: float
) -> CheckpointEntry:
    return CheckpointEntry(
        name=name,
        url=f"{_MMDET_BASE}/{name}/{name}_{stamp}.pth",
        sha256=None,
        source=MMDET_SOURCE,
        config=f"configs/queryinst/{name}.py",
        backbone=backbone,
        num_stages=6,
        num_queries=queries,
        epochs=epochs,
        box_ap=box,
        mask_ap=mask,
    )


# open-mmlab/mmdetection configs/queryinst/metafile.yml (read at commit 7a3ee0639671c6a6062a330d78318914188fea30:
# Weights, Epochs, box AP, mask AP of each model) and configs/queryinst/README.md ("Number of Proposals" column), as
# published; the URLs are rebuilt from the name and the file's date-hash stamp, and the test compares them with the
# metafile's literal URLs. Config names are the 2.x ones of that metafile; mmdetection 3.x renamed the configs
# (e.g. queryinst_r50_fpn_ms-480-800-3x_coco.py) and still links the same v2.0 files.
_MMDET_ENTRIES = (
    _mmdet("queryinst_r50_fpn_1x_coco", "20210907_084916-5a8f1998", "r50", 100, 12, 42.0, 37.5),
    _mmdet(
        "queryinst_r50_fpn_mstrain_480-800_3x_coco", "20210901_103643-7837af86", "r50", 100, 36, 44.8, 39.8
    ),
    _mmdet(
        "queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
        "20210904_101802-85cffbd8",
        "r50",
        300,
        36,
        47.5,
        41.7,
    ),
    _mmdet(
        "queryinst_r101_fpn_mstrain_480-800_3x_coco", "20210904_104048-91f9995b", "r101", 100, 36, 46.4, 41.0
    ),
    _mmdet(
        "queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
        "20210904_153621-76cce59f",
        "r101",
        300,
        36,
        49.0,
        42.9,
    ),
)


# hustvl/QueryInst README.md, "Main Results on COCO val" (google link, Box AP, Mask AP); epochs from the config
# names (3x = 36, 50e = 50). The Swin-L file is the one the README lists for "single scale testing" under both
# test-dev (56.1 / 49.1) and val (56.1 / 48.9); the val figures are given here like all the others.
_HUSTVL_ENTRIES = (
    CheckpointEntry(
        name="hustvl_queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
        url="https://drive.google.com/file/d/1D4Goiwb8BrDBVKkC35xm4ihUpSuF_tCF/view?usp=sharing",
        sha256=None,
        source=HUSTVL_SOURCE,
        config="configs/queryinst/queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco.py",
        backbone="r50",
        num_stages=6,
        num_queries=300,
        epochs=36,
        box_ap=46.9,
        mask_ap=41.4,
        manual=True,
    ),
    CheckpointEntry(
        name="hustvl_queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
        url="https://drive.google.com/file/d/1EYFdoKfMt99uVL2z4hTcSIVA__Z04NKE/view?usp=sharing",
        sha256=None,
        source=HUSTVL_SOURCE,
        config="configs/queryinst/queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco.py",
        backbone="r101",
        num_stages=6,
        num_queries=300,
        epochs=36,
        box_ap=48.0,
        mask_ap=42.4,
        manual=True,
    ),
    CheckpointEntry(
        name="hustvl_queryinst_swin_large_patch4_window7_fpn_300_proposals_crop_mstrain_400-1200_50e_coco",
        url="https://drive.google.com/file/d/1tqkpaArF0a0WVEolsCC8yrvgoydY7_Ha/view?usp=sharing",
        sha256=None,
        source=HUSTVL_SOURCE,
        config="configs/queryinst/queryinst_swin_large_patch4_window7_fpn_300_proposals_crop_mstrain_400-1200_50e_coco.py",
        backbone="swin_l",
        num_stages=6,
        num_queries=300,
        epochs=50,
        box_ap=56.1,
        mask_ap=48.9,
        manual=True,
    ),
)

#: Every official checkpoint by name (mmdetection's first, then hustvl/QueryInst's).
REGISTRY: dict[str, CheckpointEntry] = {e.name: e for e in _MMDET_ENTRIES + _HUSTVL_ENTRIES}

#: Short names: the paper's COCO init for each backbone (300 queries, crop + multi-scale 3x; for R50/R101
#: mmdetection's files, which download and check themselves and score higher than hustvl's: 47.5 vs 46.9 and
#: 49.0 vs 48.0 box AP; for Swin-L the only published file).
ALIASES: dict[str, str] = {
    "coco_r50": "queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
    "coco_r101": "queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco",
    "coco_swin_l": "hustvl_queryinst_swin_large_patch4_window7_fpn_300_proposals_crop_mstrain_400-1200_50e_coco",
}


def get_entry(name: str) -> CheckpointEntry | None:
    """The entry called ``name`` (a registry name or an alias), or None."""
    return REGISTRY.get(ALIASES.get(name, name))


def coco_init_for(backbone: str, num_queries: int = 300) -> CheckpointEntry | None:
    """The COCO checkpoint for ``backbone=`` with ``num_queries`` proposals, or None if none is published.

    Prefers a file that downloads by itself (mmdetection's), then the higher box AP.
    """
    fits = [e for e in REGISTRY.values() if e.backbone == backbone and e.num_queries == num_queries]
    fits.sort(key=lambda e: (e.manual, -e.box_ap))
    return fits[0] if fits else None
