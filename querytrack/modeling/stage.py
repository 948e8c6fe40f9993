"""One dynamic stage of QueryInst/QueryTrack: box branch, mask branch and (optional) track branch."""

from __future__ import annotations

from torch import Tensor, nn

from querytrack.modeling.box_coder import DELTA_STDS, decode_deltas
from querytrack.modeling.box_head import DIIHead
from querytrack.modeling.mask_head import DynamicMaskHead
from querytrack.modeling.outputs import StageOutput
from querytrack.modeling.roi_extractor import MultiLevelRoIAlign, image_major_rois
from querytrack.modeling.track_head import DynamicTrackHead


class DynamicStage(nn.Module):
    """Stage t: ``(features, b_{t-1}, q_{t-1}) → (cls, b_t, q_t, q*_{t-1})``, plus mask and track heads on demand.

    The mask and track branches are separate methods because training runs them on the matched queries only
    and inference on the top-k queries.

    Args:
        num_classes: K.
        hidden_dim: C (256).
        strides: pyramid strides, finest first.
        num_heads: self-attention heads (8).
        ffn_dim: FFN width (2048).
        dynamic_dim: DynamicConv hidden width (64).
        box_roi_size: 7.
        mask_roi_size: 14 (masks are 28x28).
        with_track_head: build the track branch.
        embed_dim: track embedding size D.
        track_roi_size: 7 (hustvl/QueryInst#26).
        dropout: dropout of the box head (0).
        mask_channels: width of the mask head's 3x3 convs and deconv (QueryInst: 256, independent of
            ``hidden_dim``).
        roi_kernel: RoIAlign kernel of the three poolings (``MultiLevelRoIAlign``: ``torchvision`` or the opt-in
            ``gather``).
    """

    def __init__(
        self,
        num_classes: int,
        hidden_dim: int = 256,
        strides: tuple[int, ...] = (4, 8, 16, 32),
        num_heads: int = 8,
        ffn_dim: int = 2048,
        dynamic_dim: int = 64,
        box_roi_size: int = 7,
        mask_roi_size: int = 14,
        with_track_head: bool = True,
        embed_dim: int = 256,
        track_roi_size: int = 7,
        dropout: float = 0.0,
        mask_channels: int = 256,
        roi_kernel: str = "torchvision",
    ) -> None:
        super().__init__()
        self.box_roi = MultiLevelRoIAlign(box_roi_size, strides, kernel=roi_kernel)
        self.mask_roi = MultiLevelRoIAlign(mask_roi_size, strides, kernel=roi_kernel)
        self.track_roi = MultiLevelRoIAlign(track_roi_size, strides, kernel=roi_kernel)
        self.bbox_head = DIIHead(
            num_classes, hidden_dim, num_heads, ffn_dim, dynamic_dim, box_roi_size, dropout=dropout
        )
        self.mask_head = DynamicMaskHead(
            num_classes, hidden_dim, dynamic_dim, mask_roi_size, conv_channels=mask_channels
        )
        self.track_head = (
            DynamicTrackHead(hidden_dim, dynamic_dim, track_roi_size, embed_dim=embed_dim)
            if with_track_head
            else None
        )

    def forward(self, feats: list[Tensor], boxes: Tensor, query: Tensor) -> StageOutput:
        """Box branch.

        Args:
            feats: FPN levels ``Tensor[B, C, H_l, W_l]``, finest first.
            boxes: ``Tensor[B, N, 4]`` b_{t-1}, absolute xyxy (detached by the caller except at stage 0).
            query: ``Tensor[B, N, C]`` q_{t-1}.

        Returns:
            The stage's ``StageOutput``; ``boxes`` are ``boxes`` refined by the predicted deltas
            (DeltaXYWH, stds 0.5, 0.5, 1, 1).
        """
        roi_feats = self.box_roi(feats, image_major_rois(boxes))
        cls_logits, deltas, query_out, attn_feats = self.bbox_head(roi_feats, query)
        new_boxes = decode_deltas(deltas.float(), boxes.float(), DELTA_STDS)  # fp32 boxes under autocast
        return StageOutput(cls_logits=cls_logits, boxes=new_boxes, query=query_out, attn_feats=attn_feats)

    def forward_mask(self, feats: list[Tensor], rois: Tensor, attn_feats: Tensor) -> Tensor:
        """Mask branch on selected queries.

        Args:
            feats: FPN levels.
            rois: ``Tensor[M, 5]`` ``(batch_index, x1, y1, x2, y2)``, the (detached) boxes b_t of the queries.
            attn_feats: ``Tensor[M, C]`` their q*_{t-1}.

        Returns:
            ``Tensor[M, K, 28, 28]`` mask logits.
        """
        return self.mask_head(self.mask_roi(feats, rois), attn_feats)

    def forward_track(self, feats: list[Tensor], rois: Tensor, attn_feats: Tensor) -> Tensor:
        """Track branch on selected queries.

        Args:
            feats: FPN levels.
            rois: ``Tensor[M, 5]`` boxes to pool (detached predicted boxes, or GT boxes for the reference frame).
            attn_feats: ``Tensor[M, C]`` q*_{t-1} of the queries.

        Returns:
            ``Tensor[M, D]`` embeddings.
        """
        if self.track_head is None:
            raise RuntimeError("this stage was built without a track head (with_track_head=False)")
        return self.track_head(self.track_roi(feats, rois), attn_feats)
