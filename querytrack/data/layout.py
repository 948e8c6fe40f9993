"""Find a video instance segmentation dataset from its root folder alone, in the layout it has when downloaded.

Known layouts (paths relative to the root; docs/data.md shows them as trees):

=================== ====================================== ===================
layout              training annotations                   training frames
=================== ====================================== ===================
``ytvis19``         ``train.json``                          ``train/JPEGImages``
``ytvis21``         ``train/instances.json``                ``train/JPEGImages``
``ovis``            ``annotations_train.json``              ``train``
``ovis_annotations`` ``annotations/annotations_train.json`` ``train``
=================== ====================================== ===================

YouTube-VIS 2021 and 2022 share the ``ytvis21`` layout (the 2022 challenge kept the 2021 training set); the
``ovis_annotations`` variant is OVIS with its json files moved into ``annotations/``, as DVIS's dataset guide
(zhang-tao-whu/DVIS, datasets/README.md) lays it out. The official validation and test jsons carry no ground
truth (the challenge servers kept it), so a layout never names a labelled validation file: validation is a
held-out part of train (:mod:`querytrack.data.holdout`) unless the user gives one.

A *dataset* (``ytvis19``, ``ytvis21``, ``ytvis22``, ``ovis``, or ``None`` for a custom set) names the layouts
to look for and the environment variable its root defaults to (the ``conf/data`` options read it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from querytrack.core.errors import UserError

#: The command that runs the embedded demo instead, named by every missing-data error.
DEMO_COMMAND = "python -m querytrack.run experiment=synthetic (or make run)"


@dataclass(frozen=True)
class LayoutSpec:
    """Where one known layout keeps its training annotations and frames (relative to the root)."""

    name: str
    train_ann: str
    train_images: str

    def describe(self) -> str:
        """``train/instances.json + train/JPEGImages/``."""
        return f"{self.train_ann} + {self.train_images}/"


LAYOUTS: dict[str, LayoutSpec] = {
    s.name: s
    for s in (
        LayoutSpec("ytvis19", "train.json", "train/JPEGImages"),
        LayoutSpec("ytvis21", "train/instances.json", "train/JPEGImages"),
        LayoutSpec("ovis", "annotations_train.json", "train"),
        LayoutSpec("ovis_annotations", "annotations/annotations_train.json", "train"),
    )
}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the configs name: its title, the environment variable of its root, the layouts it may have."""

    title: str
    env: str | None
    layouts: tuple[str, ...]


DATASETS: dict[str, DatasetSpec] = {
    "ytvis19": DatasetSpec("YouTube-VIS 2019", "YTVIS19_ROOT", ("ytvis19",)),
    "ytvis21": DatasetSpec("YouTube-VIS 2021", "YTVIS21_ROOT", ("ytvis21",)),
    "ytvis22": DatasetSpec("YouTube-VIS 2022", "YTVIS22_ROOT", ("ytvis21",)),
    "ovis": DatasetSpec("OVIS", "OVIS_ROOT", ("ovis", "ovis_annotations")),
}
#: A custom YouTube-VIS-format set: any known layout, root from ``data.root`` only.
CUSTOM = DatasetSpec("YouTube-VIS-format", None, tuple(LAYOUTS))


@dataclass(frozen=True)
class Layout:
    """Where a dataset's files are.

    Attributes:
        name: the layout found (a key of :data:`LAYOUTS`), ``"given"`` for paths the user gave, or
            ``"synthetic"``.
        root: the dataset root (``None`` when every path was given absolute).
        train_ann / train_images: the training json and the folder its ``file_names`` are relative to.
        val_ann: a labelled validation json, or ``None``: validate on a held-out part of train.
        val_images: the folder of the validation frames (the training frames for a held-out part).
    """

    name: str
    root: Path | None
    train_ann: Path
    train_images: Path
    val_ann: Path | None
    val_images: Path

    def describe(self) -> str:
        """One phrase for the run's summary, e.g. ``/data/ytvis21 (layout ytvis21: train/instances.json + …)``."""
        if self.name in LAYOUTS:
            return f"{self.root} (layout {self.name}: {LAYOUTS[self.name].describe()})"

        def rel(p: Path) -> str:
            return (
                str(p.relative_to(self.root))
                if self.root is not None and p.is_relative_to(self.root)
                else str(p)
            )

        where = f"{self.root} " if self.root is not None else ""
        return f"{where}({self.name}: {rel(self.train_ann)} + {rel(self.train_images)}/)"


def dataset_spec(dataset: str | None) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``dataset`` (``None``: a custom set).

    Raises:
        ValueError: an unknown dataset name.
    """
    if dataset is None:
        return CUSTOM
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)} or null (custom)")
    return DATASETS[dataset]


def _root_hint(spec: DatasetSpec) -> str:
    return f"set {spec.env}=DIR or data.root=DIR" if spec.env else "set data.root=DIR"


def _looked_for(spec: DatasetSpec) -> str:
    return " or ".join(LAYOUTS[n].describe() for n in spec.layouts)


def _under(root: Path | None, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p if (root is None or p.is_absolute()) else root / p


def find_layout(
    root: str | os.PathLike[str] | None,
    dataset: str | None = None,
    *,
    train_ann: str | os.PathLike[str] | None = None,
    train_images: str | os.PathLike[str] | None = None,
    val_ann: str | os.PathLike[str] | None = None,
    val_images: str | os.PathLike[str] | None = None,
) -> Layout:
    """Find the dataset's files under ``root`` (the first of ``dataset``'s layouts that is there).

    Args:
        root: the dataset root (``data.root``, by default ``$YTVIS21_ROOT`` etc.); ``None``: not given.
        dataset: ``ytvis19`` / ``ytvis21`` / ``ytvis22`` / ``ovis``, or ``None`` for a custom set (any layout).
        train_ann / train_images: give the training files instead of looking for them (both or neither;
            relative to ``root`` unless absolute).
        val_ann: a labelled validation json (relative to ``root`` unless absolute); ``None``: hold out part of
            train.
        val_images: the validation frames (default: the training frames, where dev splits of train live).

    Raises:
        UserError: one line naming the root (or the variable / ``data.root`` that was not set), the layouts
            looked for, and the demo command to run instead; or a given file that does not exist.
    """
    spec = dataset_spec(dataset)
    demo = f"or run the embedded synthetic demo instead: {DEMO_COMMAND}"
    if (train_ann is None) != (train_images is None):
        missing = "train_images" if train_images is None else "train_ann"
        raise UserError(
            root, f"data.{missing} is not set: give data.train_ann and data.train_images together"
        )
    base = None if root is None else Path(os.path.expanduser(str(root)))
    if base is None and train_ann is None:
        unset = f"{spec.env} is not set and data.root is not given" if spec.env else "data.root is not given"
        raise UserError(
            None,
            f"no {spec.title} data: {unset} (looked for {_looked_for(spec)} under it); "
            f"{_root_hint(spec)}, {demo}",
        )
    if base is not None and not base.is_dir():
        what = "not a folder" if base.exists() else "no such folder"
        raise UserError(
            base,
            f"{what}: the {spec.title} root (looked for {_looked_for(spec)} under it); {_root_hint(spec)} to the "
            f"folder that holds them, {demo}",
        )
    if train_ann is not None and train_images is not None:
        name, ann, images = "given", _under(base, train_ann), _under(base, train_images)
        if not ann.is_file():
            raise UserError(ann, f"data.train_ann: no such file; {demo}")
        if not images.is_dir():
            raise UserError(images, f"data.train_images: no such folder; {demo}")
    else:
        assert base is not None
        found = [LAYOUTS[n] for n in spec.layouts if (base / LAYOUTS[n].train_ann).is_file()]
        complete = [s for s in found if (base / s.train_images).is_dir()]
        if not complete:
            partial = f"; found {found[0].train_ann} but not {found[0].train_images}/" if found else ""
            raise UserError(
                base,
                f"no {spec.title} layout found: looked for {_looked_for(spec)}{partial}; "
                f"{_root_hint(spec)} to the folder that holds them, {demo}",
            )
        name, ann, images = complete[0].name, base / complete[0].train_ann, base / complete[0].train_images
    val = None if val_ann is None else _under(base, val_ann)
    if val is not None and not val.is_file():
        raise UserError(val, "data.val_ann: no such file (null: validate on a held-out part of train)")
    v_images = images if val_images is None else _under(base, val_images)
    if val is not None and not v_images.is_dir():
        raise UserError(v_images, "data.val_images: no such folder")
    return Layout(name, base, ann, images, val, v_images)
