"""The per-frame QueryInst detector with QueryTrack's track heads. Composes modules; holds no loss code."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from querytrack.modeling.backbone import TimmBackbone, check_backbone_input
from querytrack.modeling.neck import FPN
from querytrack.modeling.outputs import DetectorOutput, StageOutput
from querytrack.modeling.proposals import LearnedProposals
from querytrack.modeling.simple_pyramid import SimpleFeaturePyramid
from querytrack.modeling.stage import DynamicStage
from querytrack.modeling.vit_backbone import ViTBackbone, is_vit
from querytrack.types import FrameBatch, make_rois

# QueryInst data preprocessor, RGB, 0-255 units (docs/method.md §1).
PIXEL_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
PIXEL_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)


class QueryInstDetector(nn.Module):
    """QueryInst (backbone → FPN / simple pyramid → learned proposals → T dynamic stages) with optional track heads.

    Module names follow mmdet where the structure is the same, so that checkpoint import is mostly prefix
    renames: ``backbone.body.*`` ↔ ``backbone.*``, ``neck.fpn.*`` ↔ ``neck.*``, ``proposals.*`` ↔ ``rpn_head.*``,
    ``stages.{t}.bbox_head`` ↔ ``roi_head.bbox_head.{t}``, ``stages.{t}.mask_head`` ↔ ``roi_head.mask_head.{t}``.

    Args:
        backbone: feature extractor publishing ``channels`` and ``strides``.
        neck: FPN on the backbone levels (ResNet, Swin), or a simple feature pyramid on a ViT's one map.
        proposals: learned boxes and query features.
        stages: the T dynamic stages (no weight sharing).
        mask_topk: number of queries whose masks and track embeddings ``forward`` computes (None: all N).
        pixel_mean: RGB mean, 0-255 units.
        pixel_std: RGB std, 0-255 units.
    """

    pixel_mean: Tensor
    pixel_std: Tensor

    def __init__(
        self,
        *,
        backbone: TimmBackbone | ViTBackbone,
        neck: FPN | SimpleFeaturePyramid,
        proposals: LearnedProposals,
        stages: list[DynamicStage],
        mask_topk: int | None = 10,
        pixel_mean: tuple[float, float, float] = PIXEL_MEAN,
        pixel_std: tuple[float, float, float] = PIXEL_STD,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.proposals = proposals
        self.stages = nn.ModuleList(stages)
        self.mask_topk = mask_topk
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, 3, 1, 1), persistent=False)

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    @property
    def num_classes(self) -> int:
        return self.stage(0).bbox_head.num_classes

    @property
    def with_track_head(self) -> bool:
        return self.stage(-1).track_head is not None

    def stage(self, index: int) -> DynamicStage:
        """The ``index``-th ``DynamicStage`` (typed access to ``self.stages``)."""
        return cast(DynamicStage, self.stages[index])

    def preprocess(self, images: Tensor, image_sizes: Tensor) -> Tensor:
        """Normalise a padded uint8 batch; the padding is 0 after normalisation (as mmdet pads after it).

        Args:
            images: ``Tensor[B, 3, Hp, Wp]`` uint8 RGB (or float in 0-255), zero-padded at bottom/right.
            image_sizes: ``Tensor[B, 2]`` ``(h, w)`` of the valid content.

        Returns:
            ``Tensor[B, 3, Hp, Wp]`` float32.
        """
        x = (images.float() - self.pixel_mean) / self.pixel_std
        hp, wp = x.shape[-2:]
        sizes = image_sizes.to(x.device)
        rows = torch.arange(hp, device=x.device)[None, :] < sizes[:, 0:1]  # [B, Hp]
        cols = torch.arange(wp, device=x.device)[None, :] < sizes[:, 1:2]  # [B, Wp]
        valid = (rows[:, :, None] & cols[:, None, :])[:, None]
        return x * valid

    def extract_features(self, images: Tensor, image_sizes: Tensor) -> list[Tensor]:
        """``Tensor[B, 3, Hp, Wp]`` uint8 → FPN levels ``Tensor[B, 256, Hp / s, Wp / s]``, s = 4, 8, 16, 32."""
        x = self.preprocess(images, image_sizes)
        check_backbone_input(x)
        return self.neck(self.backbone(x))

    def pooling_layout(self, feats: list[Tensor]) -> list[Tensor]:
        """FPN levels in the memory layout the stages' RoIAlign reads fastest (``MultiLevelRoIAlign.pooling_layout``):
        convert once per pyramid, before the stages, mask and track heads pool from it."""
        return self.stage(0).box_roi.pooling_layout(feats)

    def forward_stages(self, feats: list[Tensor], image_sizes: Tensor) -> list[StageOutput]:
        """Run the box branch of all stages.

        Args:
            feats: FPN levels.
            image_sizes: ``Tensor[B, 2]`` valid ``(h, w)``; proposals are scaled by it.

        Returns:
            One ``StageOutput`` per stage. Stage t > 0 receives the *detached* boxes of stage t-1 and the
            non-detached query q_{t-1}; stage 0 receives the proposal boxes with their gradient.
        """
        boxes, query = self.proposals(image_sizes)
        outputs: list[StageOutput] = []
        for stage in self.stages:
            out = stage(feats, boxes, query)
            outputs.append(out)
            boxes, query = out.boxes.detach(), out.query
        return outputs

    def forward(self, images: Tensor, image_sizes: Tensor) -> DetectorOutput:
        """Inference on padded frames (last stage only).

        Args:
            images: ``Tensor[B, 3, Hp, Wp]`` uint8 RGB, zero-padded to a multiple of 32.
            image_sizes: ``Tensor[B, 2]`` ``(h, w)`` of the valid content.

        Returns:
            ``DetectorOutput``: logits and boxes of every query; class-specific masks and track embeddings of the
            top-k queries (``mask_indices``).
        """
        feats = self.pooling_layout(self.extract_features(images, image_sizes))
        last = self.forward_stages(feats, image_sizes)[-1]
        b, n, _ = last.cls_logits.shape
        boxes = last.boxes.detach()
        k = n if self.mask_topk is None else min(self.mask_topk, n)
        top = last.cls_logits.detach().max(dim=-1).values.topk(k, dim=1).indices  # [B, k]
        batch_idx = torch.arange(b, device=top.device).repeat_interleave(k)
        query_idx = top.reshape(-1)
        rois = make_rois(batch_idx, boxes[batch_idx, query_idx])  # [B·k, 5]
        attn = last.attn_feats[batch_idx, query_idx]  # [B·k, C]
        masks = self.stage(-1).forward_mask(feats, rois, attn)
        masks = masks.view(b, k, *masks.shape[1:])
        embeds = None
        if self.with_track_head:
            # only the top-k queries: the post-processing draws its candidates among them (as for the masks)
            embeds = self.stage(-1).forward_track(feats, rois, attn).view(b, k, -1)
        return DetectorOutput(
            cls_logits=last.cls_logits,
            boxes=boxes,
            mask_indices=top,
            mask_logits=masks,
            track_embeddings=embeds,
            image_sizes=image_sizes,
        )

    @torch.no_grad()
    def predict(self, batch: FrameBatch) -> DetectorOutput:
        """``forward`` on a ``FrameBatch`` without gradients (the caller chooses ``eval()``)."""
        return self(batch.images, batch.image_sizes)


def build_detector(
    backbone: str = "r50",
    num_queries: int = 100,
    num_classes: int = 40,
    with_track_head: bool = True,
    pretrained: bool = False,
    num_stages: int = 6,
    hidden_dim: int = 256,
    embed_dim: int = 256,
    frozen_stages: int = 1,
    norm_eval: bool = True,
    mask_topk: int | None = 10,
    num_heads: int = 8,
    ffn_dim: int = 2048,
    dynamic_dim: int = 64,
    dropout: float = 0.0,
    drop_path_rate: float | None = None,
    mask_channels: int = 256,
    roi_kernel: str = "torchvision",
    activation_checkpointing: bool = False,
) -> QueryInstDetector:
    """Build a QueryInst/QueryTrack detector from plain keyword arguments (Hydra target).

    Args:
        backbone: ``r18``, ``r50``, ``r101``, ``x101``, ``swin_t``, ``swin_s``, ``swin_b``, ``swin_l`` (see
            ``querytrack.modeling.backbone.BACKBONES``; FPN neck), or a timm ViT such as
            ``vit_large_patch14_dinov2`` (``modeling.vit_backbone``; simple feature pyramid neck).
        num_queries: N (100 or 300).
        num_classes: K (40 for YouTube-VIS, 80 for COCO).
        with_track_head: add a DynamicConv track head to every stage.
        pretrained: timm ImageNet weights for the backbone.
        num_stages: T (6).
        hidden_dim: C (256): FPN and query width.
        embed_dim: D, track embedding size.
        frozen_stages: ResNet stem + ``layer1..frozen_stages`` frozen (QueryInst: 1).
        norm_eval: backbone BatchNorms in eval mode (QueryInst: True).
        mask_topk: queries that get masks and track embeddings at inference (10; None for all).
        num_heads: query self-attention heads (8).
        ffn_dim: FFN width (2048).
        dynamic_dim: DynamicConv hidden width (64).
        dropout: box-head dropout (0).
        drop_path_rate: backbone stochastic depth (None: timm default).
        mask_channels: mask head conv width (QueryInst: 256 whatever ``hidden_dim``; the small CPU model
            narrows it, see ``conf/model/small.yaml``).
        roi_kernel: RoIAlign kernel (``modeling.roi_extractor``): ``torchvision`` (default) or the opt-in
            ``gather`` (``modeling.ops.roi_gather``); they agree up to float rounding.
        activation_checkpointing: ViT backbones only: recompute the blocks in the backward pass (less memory).

    Returns:
        A ``QueryInstDetector``.
    """
    bb: TimmBackbone | ViTBackbone
    neck: FPN | SimpleFeaturePyramid
    if is_vit(backbone):
        bb = ViTBackbone(backbone, pretrained, drop_path_rate, activation_checkpointing)
        neck = SimpleFeaturePyramid(bb.channels[0], hidden_dim)
        strides = tuple(neck.strides)
    else:
        if activation_checkpointing:
            raise ValueError("activation_checkpointing applies to ViT backbones only")
        bb = TimmBackbone(
            backbone,
            pretrained=pretrained,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            drop_path_rate=drop_path_rate,
        )
        neck = FPN(bb.channels, hidden_dim)
        strides = tuple(bb.strides)
    stages = [
        DynamicStage(
            num_classes,
            hidden_dim,
            strides,
            num_heads=num_heads,
            ffn_dim=ffn_dim,
            dynamic_dim=dynamic_dim,
            with_track_head=with_track_head,
            embed_dim=embed_dim,
            dropout=dropout,
            mask_channels=mask_channels,
            roi_kernel=roi_kernel,
        )
        for _ in range(num_stages)
    ]
    return QueryInstDetector(
        backbone=bb,
        neck=neck,
        proposals=LearnedProposals(num_queries, hidden_dim),
        stages=stages,
        mask_topk=mask_topk,
    )
