"""QueryTrack training/inference wrapper: detector + matcher + criterion + contrastive tracking loss.

The detector stays loss-free; this module only wires the losses around it, so a LightningModule can call
``QueryTrack.loss(pair_batch)`` in ``training_step`` and ``QueryTrack.forward`` / ``detector.predict`` at inference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from querytrack.losses.contrastive import ContrastiveTrackLoss
from querytrack.losses.criterion import DetectionCriterion, reduce_num_positives
from querytrack.losses.matcher import HungarianMatcher, Positives
from querytrack.modeling.detector import QueryInstDetector, build_detector
from querytrack.modeling.outputs import DetectorOutput, StageOutput
from querytrack.types import FrameBatch, FrameTarget, PairBatch, make_rois


def _positives_or_dummy(pos: Positives, device: torch.device) -> tuple[Tensor, Tensor]:
    """Queries to run the mask/track heads on: the positives, or query 0 of image 0 when there are none
    (its output then enters the loss with weight 0, so every head parameter still gets a gradient)."""
    if len(pos) > 0:
        return pos.batch_idx, pos.query_idx
    zero = torch.zeros(1, dtype=torch.int64, device=device)
    return zero, zero


class QueryTrack(nn.Module):
    """QueryInst detector trained on frame pairs with QueryTrack's contrastive tracking loss.

    Training (``loss``): the key frame runs with gradients through all T stages; at every stage its queries are
    matched to the key ground truth (Hungarian, fp32, no grad) and get focal / L1 / GIoU / dice losses; the matched
    queries' track embeddings (RoIs on their detached predicted boxes, q*_{t-1}) are contrasted with the reference
    frame's embeddings. The reference frame runs under ``torch.no_grad`` with its own Hungarian matching per stage;
    its embeddings come from RoIs on the reference **GT boxes** with the q*_{t-1} of the query matched to each GT
    (hustvl/QueryInst#34). The reference frame gets no detection loss.

    Args:
        detector: the (loss-free) detector.
        matcher: Hungarian matcher (defaults: QueryInst costs).
        criterion: detection losses (defaults: QueryInst weights, ``num_classes`` from the detector).
        track_loss: contrastive loss (defaults: focal α 0.25, γ 2); ignored without track heads.
    """

    def __init__(
        self,
        *,
        detector: QueryInstDetector,
        matcher: HungarianMatcher | None = None,
        criterion: DetectionCriterion | None = None,
        track_loss: ContrastiveTrackLoss | None = None,
    ) -> None:
        super().__init__()
        self.detector = detector
        self.matcher = matcher or HungarianMatcher()
        self.criterion = criterion or DetectionCriterion(detector.num_classes)
        self.track_loss = track_loss or ContrastiveTrackLoss()

    def forward(self, images: Tensor, image_sizes: Tensor) -> DetectorOutput:
        """Inference; see ``QueryInstDetector.forward``."""
        return self.detector(images, image_sizes)

    def _match(self, out: StageOutput, batch: FrameBatch) -> Positives:
        targets = batch.targets
        matches = self.matcher(
            out.cls_logits,
            out.boxes,
            batch.image_sizes,
            [t.labels for t in targets],
            [t.boxes for t in targets],
        )
        return Positives.from_matches(matches, [len(t) for t in targets])

    @torch.no_grad()
    def _reference_embeddings(
        self, stage: int, feats: list[Tensor], out: StageOutput, batch: FrameBatch
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Reference-frame embeddings of stage ``stage``: RoIs on the GT boxes, q*_{t-1} of the matched queries.

        Returns:
            embeds ``Tensor[G, D]``, instance ids ``Tensor[G]``, pair index ``Tensor[G]`` (matched GTs only).
        """
        pos = self._match(out, batch)
        device = out.boxes.device
        gt_boxes = torch.cat([t.boxes for t in batch.targets]).to(device).to(out.boxes.dtype)
        ids = torch.cat([t.instance_ids for t in batch.targets]).to(device)
        rois = make_rois(pos.batch_idx, gt_boxes[pos.gt_global_idx])
        embeds = self.detector.stage(stage).forward_track(
            feats, rois, out.attn_feats[pos.batch_idx, pos.query_idx]
        )
        return embeds, ids[pos.gt_global_idx], pos.batch_idx

    def loss(self, pair: PairBatch) -> dict[str, Tensor]:
        """Losses of a batch of (key, reference) pairs.

        Args:
            pair: ``PairBatch`` (key frames get all losses; reference frames provide identities).

        Returns:
            ``loss`` (the total to back-propagate), weighted terms ``s{t}.loss_{cls,bbox,iou,mask,track}`` and
            their unweighted values under ``raw/s{t}.loss_*`` (detached).
        """
        det = self.detector
        key = pair.key
        targets: list[FrameTarget] = key.targets
        device = key.images.device
        feats = det.pooling_layout(det.extract_features(key.images, key.image_sizes))
        outs = det.forward_stages(feats, key.image_sizes)
        num_pos = reduce_num_positives(sum(len(t) for t in targets), device)
        with_track = det.with_track_head
        if with_track:
            with torch.no_grad():
                ref_feats = det.pooling_layout(det.extract_features(pair.ref.images, pair.ref.image_sizes))
                ref_outs = det.forward_stages(ref_feats, pair.ref.image_sizes)
            key_ids_all = torch.cat([t.instance_ids for t in targets]).to(device)

        losses: dict[str, Tensor] = {}
        for t, out in enumerate(outs):
            pos = self._match(out, key)
            bi, qi = _positives_or_dummy(pos, device)
            rois = make_rois(bi, out.boxes.detach()[bi, qi])
            attn = out.attn_feats[bi, qi]
            stage = det.stage(t)
            mask_logits = stage.forward_mask(feats, rois, attn)
            raw = self.criterion.stage_losses(
                out.cls_logits, out.boxes, pos, targets, key.image_sizes, mask_logits, num_pos
            )
            weighted = self.criterion.weighted(t, raw)
            if with_track:
                key_emb = stage.forward_track(feats, rois, attn)
                ref_emb, ref_ids, ref_b = self._reference_embeddings(t, ref_feats, ref_outs[t], pair.ref)
                if len(pos) > 0:
                    track = self.track_loss(
                        key_emb,
                        key_ids_all[pos.gt_global_idx],
                        pos.batch_idx,
                        ref_emb,
                        ref_ids,
                        ref_b,
                        len(key),
                        normalizer=num_pos,
                    )
                else:
                    track = key_emb.sum() * 0.0
                raw["loss_track"] = track
                weighted[f"s{t}.loss_track"] = (
                    track * self.track_loss.loss_weight * self.criterion.stage_weight(t)
                )
            losses.update(weighted)
            losses.update({f"raw/s{t}.{k}": v.detach() for k, v in raw.items()})
        losses["loss"] = torch.stack([v for k, v in losses.items() if not k.startswith("raw/")]).sum()
        return losses


def build_querytrack(
    backbone: str = "r50",
    num_queries: int = 100,
    num_classes: int = 40,
    with_track_head: bool = True,
    pretrained: bool = False,
    num_stages: int = 6,
    embed_dim: int = 256,
    track_alpha: float = 0.25,
    track_gamma: float = 2.0,
    track_use_focal: bool = True,
    track_loss_weight: float = 1.0,
    stage_loss_weights: list[float] | None = None,
    **detector_kwargs: object,
) -> QueryTrack:
    """Detector (``build_detector``) + QueryInst losses + contrastive tracking loss, from keyword arguments."""
    det = build_detector(
        backbone=backbone,
        num_queries=num_queries,
        num_classes=num_classes,
        with_track_head=with_track_head,
        pretrained=pretrained,
        num_stages=num_stages,
        embed_dim=embed_dim,
        **detector_kwargs,  # type: ignore[arg-type]
    )
    return QueryTrack(
        detector=det,
        criterion=DetectionCriterion(num_classes, stage_loss_weights=stage_loss_weights),
        track_loss=ContrastiveTrackLoss(track_alpha, track_gamma, track_use_focal, track_loss_weight),
    )
