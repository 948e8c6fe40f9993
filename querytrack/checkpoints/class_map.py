"""YouTube-VIS / OVIS ↔ COCO class maps: initialise the classifier rows of shared classes from a COCO checkpoint.

A COCO QueryInst checkpoint has 80 rows in every class-specific layer (``fc_cls``, ``conv_logits``); a 40-class
YouTube-VIS model cannot load them as they are. With the data option's ``coco_class_map`` (``ytvis21``, ``ytvis19``,
``ovis``; ``data.coco_class_map=null`` for none), each of our classes that has a COCO counterpart takes that COCO class's rows; the others keep their
initialisation. The tables are the COCO → VIS category maps used for joint image training by VITA
(sukjunhwang/VITA ``vita/data/datasets/builtin.py``) and DVIS / MinVIS after it (``COCO_TO_YTVIS_2019``,
``COCO_TO_YTVIS_2021``, ``COCO_TO_OVIS``), copied as published; the category names are the official ones
(``YTVIS_CATEGORIES_2019/2021``, ``OVIS_CATEGORIES`` in facebookresearch/Mask2Former
``mask2former_video/data_video/datasets/ytvis.py`` and VITA). Where several COCO classes feed one class
(motorbike ← bicycle, motorcycle; snowboard ← skis, snowboard; OVIS vehicle ← car, bus, truck), the COCO class of
the same name initialises it, else the nearest one (motorbike ← motorcycle, vehicle ← car).

Unmapped (no COCO class): YouTube-VIS 2019: giant_panda, lizard, parrot, ape, snake, monkey, hand, rabbit, duck,
fish, turtle, leopard, fox, deer, owl, tiger, shark, mouse, frog, eagle, earless_seal (21 of 40);
YouTube-VIS 2021: deer, duck, earless_seal, fish, fox, frog, giant_panda, leopard, lizard, monkey, mouse, parrot,
rabbit, shark, snake, squirrel, tiger, turtle, whale (19 of 40); OVIS: bird, poultry, giant_panda, lizard,
parrot, monkey, rabbit, tiger, fish, turtle (10 of 25; the published map leaves OVIS "Bird" out although COCO has
bird, and so does this table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from querytrack.core.errors import UserError

# COCO 2017 detection categories (id, name); mmdet's 80 classifier rows are these in id order.
COCO_CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"), (7, "train"),
    (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
    (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"),
    (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"),
    (47, "cup"), (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"),
    (54, "sandwich"), (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"),
    (60, "donut"), (61, "cake"), (62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"),
    (67, "dining table"), (70, "toilet"), (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"),
    (76, "keyboard"), (77, "cell phone"), (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"),
    (82, "refrigerator"), (84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"),
    (89, "hair drier"), (90, "toothbrush"),
)  # fmt: skip

YTVIS_2019_NAMES = (
    "person", "giant_panda", "lizard", "parrot", "skateboard", "sedan", "ape", "dog", "snake", "monkey", "hand",
    "rabbit", "duck", "cat", "cow", "fish", "train", "horse", "turtle", "bear", "motorbike", "giraffe", "leopard",
    "fox", "deer", "owl", "surfboard", "airplane", "truck", "zebra", "tiger", "elephant", "snowboard", "boat",
    "shark", "mouse", "frog", "eagle", "earless_seal", "tennis_racket",
)  # fmt: skip
YTVIS_2021_NAMES = (
    "airplane", "bear", "bird", "boat", "car", "cat", "cow", "deer", "dog", "duck", "earless_seal", "elephant",
    "fish", "flying_disc", "fox", "frog", "giant_panda", "giraffe", "horse", "leopard", "lizard", "monkey",
    "motorbike", "mouse", "parrot", "person", "rabbit", "shark", "skateboard", "snake", "snowboard", "squirrel",
    "surfboard", "tennis_racket", "tiger", "train", "truck", "turtle", "whale", "zebra",
)  # fmt: skip
OVIS_NAMES = (
    "Person", "Bird", "Cat", "Dog", "Horse", "Sheep", "Cow", "Elephant", "Bear", "Zebra", "Giraffe", "Poultry",
    "Giant_panda", "Lizard", "Parrot", "Monkey", "Rabbit", "Tiger", "Fish", "Turtle", "Bicycle", "Motorcycle",
    "Airplane", "Boat", "Vehical",
)  # fmt: skip

# COCO category id -> dataset category id (ids 1..N in the order of the names above), as published by VITA.
COCO_TO_YTVIS_2019 = {
    1: 1, 2: 21, 3: 6, 4: 21, 5: 28, 7: 17, 8: 29, 9: 34, 17: 14, 18: 8, 19: 18, 21: 15, 22: 32, 23: 20, 24: 30,
    25: 22, 35: 33, 36: 33, 41: 5, 42: 27, 43: 40,
}  # fmt: skip
COCO_TO_YTVIS_2021 = {
    1: 26, 2: 23, 3: 5, 4: 23, 5: 1, 7: 36, 8: 37, 9: 4, 16: 3, 17: 6, 18: 9, 19: 19, 21: 7, 22: 12, 23: 2,
    24: 40, 25: 18, 34: 14, 35: 31, 36: 31, 41: 29, 42: 33, 43: 34,
}  # fmt: skip
COCO_TO_OVIS = {
    1: 1, 2: 21, 3: 25, 4: 22, 5: 23, 6: 25, 8: 25, 9: 24, 17: 3, 18: 4, 19: 5, 20: 6, 21: 7, 22: 8, 23: 9,
    24: 10, 25: 11,
}  # fmt: skip


class ClassMapError(UserError, ValueError):
    """The data set's categories do not fit the class map (or no such map): one line for the run to print."""


#: ``init_checkpoint_class_map`` values: (category names by id 1..N, COCO id -> category id).
TABLES: dict[str, tuple[tuple[str, ...], dict[int, int]]] = {
    "ytvis19": (YTVIS_2019_NAMES, COCO_TO_YTVIS_2019),
    "ytvis21": (YTVIS_2021_NAMES, COCO_TO_YTVIS_2021),
    "ovis": (OVIS_NAMES, COCO_TO_OVIS),
}


# Our class -> the COCO class that initialises it when several COCO classes feed it and none has its name.
_PREFERRED = {"motorbike": "motorcycle", "vehical": "car"}


def _norm(name: str) -> str:
    return name.lower().replace("_", " ")


@dataclass
class ClassMapReport:
    """Which of our classes take a COCO class's classifier rows.

    Attributes:
        table: the table name (``ytvis19``, ``ytvis21``, ``ovis``).
        class_map: for each of our labels, the COCO row index (0..79) or None (kept initialisation).
        mapped: ``(coco_name, our_name)`` pairs, in our label order.
        fresh: our class names without a COCO counterpart.
    """

    table: str
    class_map: list[int | None]
    mapped: list[tuple[str, str]] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Human-readable summary, in the style of ``LoadReport.summary``."""
        lines = [
            f"class map {self.table}: {len(self.mapped)} of {len(self.class_map)} classes initialised from COCO "
            f"rows, {len(self.fresh)} fresh"
        ]
        if self.mapped:
            lines.append("  mapped (ours <- COCO):")
            lines += [f"    {ours} <- {coco}" for coco, ours in self.mapped]
        if self.fresh:
            lines.append("  fresh: " + ", ".join(self.fresh))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def build_class_map(table: str, category_ids: Sequence[int], class_names: Sequence[str]) -> ClassMapReport:
    """The COCO row for each of our classes.

    Args:
        table: ``ytvis19``, ``ytvis21`` or ``ovis``.
        category_ids: our label -> dataset category id (``YTVISDataset.label_to_cat_id``).
        class_names: our label -> category name (``YTVISDataset.class_names``); checked against the table.

    Returns:
        The ``ClassMapReport`` (its ``class_map`` goes to ``load_mmdet_checkpoint(class_map=...)``).

    Raises:
        ValueError: unknown table, or a category whose id / name disagrees with the table (wrong table for the
            data).
    """
    if table not in TABLES:
        raise ClassMapError(None, f"unknown class map {table!r}: use one of {sorted(TABLES)}")
    names, coco_to_ours = TABLES[table]
    coco_row = {cid: row for row, (cid, _) in enumerate(COCO_CATEGORIES)}
    coco_name = dict(COCO_CATEGORIES)
    sources: dict[int, list[int]] = {}
    for cid, ours in sorted(coco_to_ours.items()):
        sources.setdefault(ours, []).append(cid)
    report = ClassMapReport(table=table, class_map=[])
    for cat_id, name in zip(category_ids, class_names, strict=True):
        if not 1 <= cat_id <= len(names) or _norm(names[cat_id - 1]) != _norm(name):
            expected = names[cat_id - 1] if 1 <= cat_id <= len(names) else "no such id"
            raise ClassMapError(
                None,
                f"class map {table}: category {cat_id} is {name!r} in the data but {expected!r} in the table "
                "(is it the right table for this data set? data.coco_class_map=null starts every class fresh)",
            )
        cands = sources.get(cat_id, [])
        want = _PREFERRED.get(_norm(name), _norm(name))
        same = [c for c in cands if _norm(coco_name[c]) == want]
        chosen = (same or cands)[0] if cands else None
        if chosen is None:
            report.class_map.append(None)
            report.fresh.append(name)
        else:
            report.class_map.append(coco_row[chosen])
            report.mapped.append((coco_name[chosen], name))
    return report
