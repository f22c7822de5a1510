"""Biaffine dependency scorer (Dozat & Manning 2017) over frozen word vectors.

Arc score of head j for dependent i: s_ij = d_i^T U h_j + h_j^T b, with d/h from two one-layer
ReLU MLPs; a learned ROOT vector takes position 0. Relation scores: a biaffine classifier on the
dependent and its (gold at training, predicted at test) head, both from two more MLPs. Decoding
takes each word's highest-scoring head (no spanning-tree constraint) and that arc's best relation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class _MLP(nn.Module):
    def __init__(self, dim: int, out: int, dropout: float):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(dim, out), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, x):
        return self.layer(x)


class BiaffineParser(nn.Module):
    def __init__(self, dim: int, n_labels: int, arc_dim: int = 256, rel_dim: int = 128, dropout: float = 0.33):
        super().__init__()
        self.root = nn.Parameter(torch.randn(dim) * 0.1)
        self.arc_dep, self.arc_head = _MLP(dim, arc_dim, dropout), _MLP(dim, arc_dim, dropout)
        self.rel_dep, self.rel_head = _MLP(dim, rel_dim, dropout), _MLP(dim, rel_dim, dropout)
        self.arc_U = nn.Parameter(torch.zeros(arc_dim, arc_dim))
        self.arc_b = nn.Parameter(torch.zeros(arc_dim))
        self.rel_U = nn.Parameter(torch.zeros(n_labels, rel_dim + 1, rel_dim + 1))

    def forward(self, words: torch.Tensor, mask: torch.Tensor):
        """words [B, n, H], mask [B, n] -> arc scores [B, n+1, n+1] (dependent, head) and MLP states."""
        batch = words.shape[0]
        x = torch.cat([self.root.expand(batch, 1, -1), words], dim=1)
        full_mask = torch.cat([torch.ones(batch, 1, dtype=torch.bool), mask], dim=1)
        dep, head = self.arc_dep(x), self.arc_head(x)
        arcs = torch.einsum("bid,de,bje->bij", dep, self.arc_U, head) + (head @ self.arc_b)[:, None, :]
        arcs = arcs.masked_fill(~full_mask[:, None, :], float("-inf"))
        ones = torch.ones(batch, x.shape[1], 1)
        return arcs, torch.cat([self.rel_dep(x), ones], -1), torch.cat([self.rel_head(x), ones], -1)

    def relation_scores(self, rel_dep, rel_head, heads: torch.Tensor) -> torch.Tensor:
        """[B, n+1, L]: relation logits of each position given its head index in `heads` [B, n+1]."""
        chosen = rel_head.gather(1, heads.unsqueeze(-1).expand(-1, -1, rel_head.shape[-1]))
        return torch.einsum("bid,lde,bie->bil", rel_dep, self.rel_U, chosen)

    def loss(self, words, mask, heads, labels) -> torch.Tensor:
        """heads/labels [B, n+1] (position 0 and padding ignored via mask)."""
        arcs, rel_dep, rel_head = self(words, mask)
        arc_loss = nn.functional.cross_entropy(arcs[:, 1:][mask], heads[:, 1:][mask])
        relations = self.relation_scores(rel_dep, rel_head, heads)
        rel_loss = nn.functional.cross_entropy(relations[:, 1:][mask], labels[:, 1:][mask])
        return arc_loss + rel_loss

    @torch.no_grad()
    def decode(self, words, mask) -> tuple[torch.Tensor, torch.Tensor]:
        arcs, rel_dep, rel_head = self(words, mask)
        n = arcs.shape[1]
        arcs = arcs.masked_fill(torch.eye(n, dtype=torch.bool)[None], float("-inf"))  # no self-loops
        heads = arcs.argmax(-1)
        labels = self.relation_scores(rel_dep, rel_head, heads).argmax(-1)
        return heads[:, 1:], labels[:, 1:]


def pad_batch(sentences: list[np.ndarray], heads=None, labels=None):
    """Pad word vectors (and gold trees, shifted to include ROOT at position 0) into tensors."""
    longest = max(len(s) for s in sentences)
    dim = sentences[0].shape[1]
    words = torch.zeros(len(sentences), longest, dim)
    mask = torch.zeros(len(sentences), longest, dtype=torch.bool)
    gold_heads = torch.zeros(len(sentences), longest + 1, dtype=torch.long)
    gold_labels = torch.zeros(len(sentences), longest + 1, dtype=torch.long)
    for i, vectors in enumerate(sentences):
        words[i, : len(vectors)] = torch.from_numpy(vectors)
        mask[i, : len(vectors)] = True
        if heads is not None:
            gold_heads[i, 1: len(vectors) + 1] = torch.as_tensor(heads[i])
            gold_labels[i, 1: len(vectors) + 1] = torch.as_tensor(labels[i])
    return words, mask, gold_heads, gold_labels
