"""The part of a sentence-transformers model that the ONNX export holds (imports torch: export time only)."""

from __future__ import annotations

import torch


class Body(torch.nn.Module):
    """The model from token embeddings on: ``(inputs_embeds, attention_mask) -> sentence_embedding``.

    Position and type embeddings, the encoder, then the model's own pooling and normalisation modules.
    The token embedding lookup stays outside (a memory-mapped table read row by row).
    """

    def __init__(self, model):
        super().__init__()
        self.encoder = model[0].auto_model
        self.rest = torch.nn.ModuleList(list(model)[1:])

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings of a right-padded batch."""
        out = self.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask, return_dict=True)
        features = {"token_embeddings": out.last_hidden_state, "attention_mask": attention_mask}
        for module in self.rest:
            features = module(features)
        return features["sentence_embedding"]
