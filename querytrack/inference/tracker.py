"""Online association of per-frame candidates to identities (QueryTrack eq. 8, docs/method.md §3).

For M candidates of the current frame and N identities in memory:

    S_mn = ½ [softmax_n(e_m·e_n) + softmax_m(e_m·e_n)]                    (bidirectional softmax)
    F_mn = S_mn · (1 + IoU(b_m, b_n)) / 2 · (1 + π_m) / 2 · δ(c_m, c_n)

Each cue can be switched off (its factor becomes 1) for ablations. Pairs with F below ``min_match_factor``
are refused; the rest are assigned one-to-one, by default with the Hungarian algorithm maximising the summed
factor (scipy ``linear_sum_assignment``), optionally greedily (highest factor first, the literal reading of
"joins the identity with the highest factor"); both agree when each candidate's best identity is unambiguous.
Unmatched candidates with score ≥ ``new_track_score_threshold`` start new identities (ordered by score, then
box, so ids do not depend on candidate order); other unmatched candidates are dropped (id -1), unlike
MaskTrack R-CNN which starts a track for every detection ≥ 0.05 (docs/method.md §6.2).

Memory per identity: embedding (latest, as the paper, or exponential moving average), latest box, latest class,
last frame seen; optionally forgotten after ``max_age`` frames unseen (MaskTrack R-CNN never forgets; mmtracking's
re-implementation forgets after 20 frames, docs/method.md §6.2).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from torchvision.ops import batched_nms, box_iou

from querytrack.inference.detections import FrameDetections
from querytrack.inference.track_stats import TrackStats


class Tracker:
    """Online tracker: ``reset()`` per video, then ``update(frame_detections)`` frame by frame, in order.

    Args:
        det_score_threshold: candidates below are ignored entirely (neither match nor start). 0.05 = MaskTrack
            R-CNN's test ``score_thr`` (docs/method.md §6.2); QueryInst's top-10 often contains near-zero
            scores that are pure noise.
        new_track_score_threshold: unmatched candidates need at least this score to start an identity. 0.3:
            the top-10 of a set predictor without NMS contains low-scoring duplicates of the same object; they
            may extend an identity but should not open new ones (each becomes a false-positive track). Ablate.
        min_match_factor: pairs with F below are refused; pairs with F = 0 (vetoed by a cue, e.g. the classes
            disagree) are always refused: otherwise an identity whose object had gone was handed any leftover
            candidate, even of another class (measured: ``experiments/synthetic_association/README.md``). Default 0.0 (one-to-one assignment and class
            agreement alone decide), measured: S is a softmax over the N identities, so it is ≈ 1/N until the
            embeddings are well trained, and any absolute floor then refuses true matches and fragments the
            tracks (0.1 against 0.0: ``experiments/synthetic_association/README.md``). Use ``new_identity_slot`` for a
            scale-free way to refuse.
        use_appearance: bidirectional-softmax embedding similarity S (off: S = 1).
        use_iou: (1 + IoU) / 2 with the identity's last box (off: 1).
        use_score: (1 + π) / 2 with the candidate's score (off: 1).
        use_class: δ(class agrees with the identity's last class) (off: 1).
        assignment: ``"hungarian"`` (default, max total factor) or ``"greedy"`` (highest factor first).
        memory_update: ``"latest"`` (paper: replace the embedding) or ``"ema"``.
        ema_momentum: with ``"ema"``, e ← m·e + (1 − m)·e_new. 0.5 weighs the last frames most.
        max_age: forget identities unseen for more than this many frames (None = never, as the paper).
        normalize_embeddings: L2-normalise embeddings before the dot product (off by default: the contrastive
            loss is trained on raw dot products).
        new_identity_slot: mirror the training loss's "new identity" slot (a zero logit beside the
            identities, docs/method.md §2, eq. 5): the identity-side softmax includes it, and a candidate joins an
            identity only when that pair's factor beats the candidate's own "new" factor
            ``p_m(0) · ½ · (1 + π_m) / 2`` (IoU 0, class agreeing). This is a *relative* test, so it does not
            depend on the embedding scale the way ``min_match_factor`` does (with untrained embeddings S ≈ 1/N and
            every absolute threshold refuses). MaskTrack R-CNN's dummy column plays the same role. Off by default
            (the paper's eq. 8 as written); needs ``use_appearance``.
        nms_iou: before association, drop every candidate whose box IoU with a higher-scoring candidate of the
            same class exceeds this (None: off, as the paper: a set predictor needs no NMS once trained). An
            under-trained detector finds one object with several queries at similar scores; each then feeds an
            identity of its own and the identities swap between the duplicates.
    """

    def __init__(
        self,
        det_score_threshold: float = 0.05,
        new_track_score_threshold: float = 0.3,
        min_match_factor: float = 0.0,
        use_appearance: bool = True,
        use_iou: bool = True,
        use_score: bool = True,
        use_class: bool = True,
        assignment: Literal["hungarian", "greedy"] = "hungarian",
        memory_update: Literal["latest", "ema"] = "latest",
        ema_momentum: float = 0.5,
        max_age: int | None = None,
        normalize_embeddings: bool = False,
        new_identity_slot: bool = False,
        nms_iou: float | None = None,
    ) -> None:
        if assignment not in ("hungarian", "greedy"):
            raise ValueError(f"assignment must be 'hungarian' or 'greedy', got {assignment!r}")
        if memory_update not in ("latest", "ema"):
            raise ValueError(f"memory_update must be 'latest' or 'ema', got {memory_update!r}")
        self.det_score_threshold = det_score_threshold
        self.new_track_score_threshold = new_track_score_threshold
        self.min_match_factor = min_match_factor
        self.use_appearance = use_appearance
        self.use_iou = use_iou
        self.use_score = use_score
        self.use_class = use_class
        self.assignment = assignment
        self.memory_update = memory_update
        self.ema_momentum = ema_momentum
        self.max_age = max_age
        self.normalize_embeddings = normalize_embeddings
        self.new_identity_slot = new_identity_slot and use_appearance
        self.nms_iou = nms_iou
        self.reset()

    def reset(self) -> None:
        """Forget every identity (call at the start of each video)."""
        self.ids = torch.zeros(0, dtype=torch.int64)
        self.embeddings = torch.zeros(0, 0)
        self.boxes = torch.zeros(0, 4)
        self.labels = torch.zeros(0, dtype=torch.int64)
        self.last_seen = torch.zeros(0, dtype=torch.int64)
        self.stats: dict[int, TrackStats] = {}
        self.next_id = 0

    def __len__(self) -> int:
        return int(self.ids.numel())

    def _embed(self, e: Tensor) -> Tensor:
        e = e.float()
        return torch.nn.functional.normalize(e, dim=-1) if self.normalize_embeddings else e

    def matching_factor(self, det: FrameDetections) -> Tensor:
        """Eq. 8 factor between the candidates and the identities in memory.

        Args:
            det: candidates (already filtered by ``det_score_threshold``).

        Returns:
            ``Tensor[M, N]`` float32 in [0, 1].
        """
        M, N = len(det), len(self)
        F = torch.ones((M, N), dtype=torch.float32)
        if M == 0 or N == 0:
            return F
        if self.use_appearance:
            logits = self._embed(det.embeddings) @ self.embeddings.T
            F = F * 0.5 * (self._identity_softmax(logits)[:, 1:] + logits.softmax(dim=0))
        if self.use_iou:
            F = F * (1 + box_iou(det.boxes.float(), self.boxes)) / 2
        if self.use_score:
            F = F * ((1 + det.scores.float()) / 2)[:, None]
        if self.use_class:
            F = F * (det.labels[:, None] == self.labels[None, :]).float()
        return F

    def _identity_softmax(self, logits: Tensor) -> Tensor:
        """``Tensor[M, 1 + N]``: softmax over identities, column 0 the "new" slot (all zeros without the slot)."""
        zero = torch.zeros((logits.shape[0], 1), dtype=logits.dtype)
        if not self.new_identity_slot:
            return torch.cat([zero, logits.softmax(dim=1)], dim=1)
        return torch.cat([zero, logits], dim=1).softmax(dim=1)

    def new_factor(self, det: FrameDetections) -> Tensor:
        """``Tensor[M]``: each candidate's factor for starting a new identity (0 without the slot)."""
        if not self.new_identity_slot or len(det) == 0 or len(self) == 0:
            return torch.zeros(len(det))
        logits = self._embed(det.embeddings) @ self.embeddings.T
        f = self._identity_softmax(logits)[:, 0] * 0.5
        if self.use_score:
            f = f * (1 + det.scores.float()) / 2
        return f

    def _assign(self, factors: Tensor, new_factors: Tensor | None = None) -> list[tuple[int, int]]:
        f = factors.double().numpy()
        # A zero factor is a veto (a cue said "not this identity", e.g. the classes disagree): never a match,
        # whatever min_match_factor says (with the 0.0 default, class-mismatched pairs used to be assigned).
        ok = (f >= self.min_match_factor) & (f > 0)
        if new_factors is not None:
            ok &= f > new_factors.double().numpy()[:, None]
        if not ok.any():
            return []
        if self.assignment == "hungarian":
            rows, cols = linear_sum_assignment(np.where(ok, f, 0.0), maximize=True)
            return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]
        pairs, used_r, used_c = [], set(), set()
        order = np.argsort(-f, axis=None, kind="stable")
        for flat in order:
            r, c = divmod(int(flat), f.shape[1])
            if not ok[r, c]:
                break
            if r not in used_r and c not in used_c:
                pairs.append((r, c))
                used_r.add(r)
                used_c.add(c)
        return pairs

    def _forget(self, frame_index: int) -> None:
        if self.max_age is None or len(self) == 0:
            return
        keep = (frame_index - self.last_seen) <= self.max_age
        self.ids, self.embeddings, self.boxes = self.ids[keep], self.embeddings[keep], self.boxes[keep]
        self.labels, self.last_seen = self.labels[keep], self.last_seen[keep]

    @torch.no_grad()
    def update(self, det: FrameDetections) -> FrameDetections:
        """Associate one frame's candidates with the identities and update the memory.

        Args:
            det: the frame's candidates (any order; on CPU).

        Returns:
            The same candidates with ``track_ids`` (-1 = no identity) and ``track_labels`` (the identity's causal
            class) set.
        """
        det = det.to("cpu")
        self._forget(det.frame_index)
        M = len(det)
        track_ids = torch.full((M,), -1, dtype=torch.int64)
        keep = (det.scores >= self.det_score_threshold).nonzero().flatten()
        if self.nms_iou is not None and len(keep) > 1:
            kept = batched_nms(
                det.boxes[keep].float(), det.scores[keep].float(), det.labels[keep], self.nms_iou
            )
            keep = keep[kept.sort().values]
        cand = det.select(keep)
        pairs = (
            self._assign(
                self.matching_factor(cand), self.new_factor(cand) if self.new_identity_slot else None
            )
            if len(self) and len(cand)
            else []
        )
        emb = self._embed(cand.embeddings)
        matched = set()
        for r, c in pairs:
            matched.add(r)
            track_ids[keep[r]] = self.ids[c]
            if self.memory_update == "ema":
                m = self.ema_momentum
                self.embeddings[c] = m * self.embeddings[c] + (1 - m) * emb[r]
            else:
                self.embeddings[c] = emb[r]
            self.boxes[c] = cand.boxes[r].float()
            self.labels[c] = cand.labels[r]
            self.last_seen[c] = det.frame_index
        new = [
            r
            for r in range(len(cand))
            if r not in matched and cand.scores[r] >= self.new_track_score_threshold
        ]
        new.sort(key=lambda r: (-float(cand.scores[r]), *cand.boxes[r].tolist(), int(cand.labels[r])))
        if new:
            idx = torch.tensor(new)
            new_ids = torch.arange(self.next_id, self.next_id + len(new))
            self.next_id += len(new)
            track_ids[keep[idx]] = new_ids
            self.ids = torch.cat([self.ids, new_ids])
            self.embeddings = torch.cat([self.embeddings.reshape(-1, emb.shape[1]), emb[idx]])
            self.boxes = torch.cat([self.boxes, cand.boxes[idx].float()])
            self.labels = torch.cat([self.labels, cand.labels[idx]])
            self.last_seen = torch.cat([self.last_seen, torch.full((len(new),), det.frame_index)])
        track_labels = torch.full((M,), -1, dtype=torch.int64)
        for i in (track_ids >= 0).nonzero().flatten().tolist():
            tid = int(track_ids[i])
            stats = self.stats.setdefault(tid, TrackStats())
            stats.update(int(det.labels[i]), float(det.scores[i]))
            track_labels[i] = stats.first_label
        det.track_ids, det.track_labels = track_ids, track_labels
        return det
