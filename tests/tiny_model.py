"""A tiny, real sentence-transformers model, built in a second: the fast-tier model for tests.

``build_tiny_model(path)`` writes a random-weight (seeded, deterministic) 2-layer BERT with a
WordPiece tokenizer trained on a few Norwegian sentences, saved by sentence-transformers as
Transformer -> mean Pooling -> Normalize, with e5-style prompts and max_seq_length 128.
``arch="xlm-roberta"`` gives the same shape as an XLM-RoBERTa model with a Unigram tokenizer
(positions start at padding_idx + 1, like multilingual-e5).

Imports torch, transformers and sentence-transformers (about 5 s the first time in a process).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 128
HIDDEN = 32

SENTENCES = [
    "Møtet mellom representanter for likesinnede land fant sted på sidelinjen av G7-møtet i Lucca.",
    "Møtet fant sted like før Tillerson setter kursen mot Moskva.",
    "Lavrov uttalte at samtalene var åpne og viktige, men han anklaget USA for å trappe opp konflikten.",
    "Hva sa Lavrov om angrepet i Syria?",
    "Regjeringen vil bruke mer penger på skole, sykehus og veier i hele landet.",
    "Været blir kaldt i helgen, med snø i fjellet og sludd langs kysten.",
    "Pisk egg og sukker luftig, sikt inn mel og bakepulver, og stek kaken i førti minutter.",
    "Stortinget vedtok budsjettet etter lange forhandlinger mellom partiene.",
    "Fotballaget vant kampen to null etter et sent mål på overtid.",
    "Prisene på strøm har steget kraftig i Sør-Norge denne vinteren.",
    "Ærlig talt er det få som forstår hvorfor øya fikk en ny ferjekai.",
    "Åpningen av den nye tunnelen ble utsatt på grunn av økte kostnader.",
    "query: passage: spørsmål svar nyheter artikkel dato 2017 04 12",
    "What did Lavrov say about the attack in Syria? The meeting took place in Lucca.",
]


def _words(tok) -> list[str]:
    words = []
    for sentence in SENTENCES:
        text = tok.normalizer.normalize_str(sentence)
        words += [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(text)]
    return words


def _build_tokenizer(arch: str):
    """A tokenizer with a vocabulary derived from SENTENCES by counting (trainers are not deterministic)."""
    import math
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if arch == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        probe = Tokenizer(models.WordPiece({"[UNK]": 0}, unk_token="[UNK]"))
        probe.normalizer = normalizers.BertNormalizer(lowercase=True)
        probe.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        words = Counter(_words(probe))
        chars = sorted({c for w in words for c in w})
        suffixes = Counter(w[k:] for w in words for k in range(1, len(w)) if len(w) - k <= 4)
        vocab = specials + chars + ["##" + c for c in chars]
        vocab += ["##" + s for s, n in sorted(suffixes.items()) if n >= 2 and len(s) > 1]
        vocab += [w for w, _ in sorted(words.items()) if len(w) > 1]
        tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
        tok.normalizer, tok.pre_tokenizer = probe.normalizer, probe.pre_tokenizer
        tok.decoder = decoders.WordPiece()
        cls, sep = "[CLS]", "[SEP]"
        kwargs = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": cls, "sep_token": sep, "mask_token": "[MASK]"}
    elif arch == "xlm-roberta":
        specials = ["<s>", "<pad>", "</s>", "<unk>"]
        probe = Tokenizer(models.Unigram([("<unk>", 0.0)], 0, False))
        probe.normalizer = normalizers.NFKC()
        probe.pre_tokenizer = pre_tokenizers.Metaspace()
        words = Counter(_words(probe))
        counts = Counter()
        for w, n in words.items():
            for a in range(len(w)):
                for b in range(a + 1, min(len(w), a + 8) + 1):
                    counts[w[a:b]] += n
        pieces = sorted((p for p, n in counts.items() if n >= 2 or len(p) == 1), key=lambda p: (-counts[p], p))
        total = sum(counts[p] for p in pieces)
        vocab = [(t, 0.0) for t in specials] + [(p, math.log(counts[p] / total)) for p in pieces] + [("<mask>", 0.0)]
        tok = Tokenizer(models.Unigram(vocab, 3, False))
        tok.normalizer, tok.pre_tokenizer = probe.normalizer, probe.pre_tokenizer
        tok.decoder = decoders.Metaspace()
        tok.add_special_tokens(specials + ["<mask>"])
        cls, sep = "<s>", "</s>"
        kwargs = {
            "bos_token": cls,
            "eos_token": sep,
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "cls_token": cls,
            "sep_token": sep,
            "mask_token": "<mask>",
        }
    else:
        raise ValueError(f"unknown arch {arch!r}")
    cls_id, sep_id = tok.token_to_id(cls), tok.token_to_id(sep)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, cls_id), (sep, sep_id)],
    )
    return tok, kwargs


def build_tiny_model(path: Path, arch: str = "bert") -> Path:
    """Write a tiny sentence-transformers model to ``path`` (created if needed) and return ``path``.

    ``arch`` is ``"bert"`` (the default fast-tier model) or ``"xlm-roberta"``. The same call gives
    the same weights and tokenizer every time.
    """
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 5.4
        from sentence_transformers.models import Normalize, Pooling, Transformer
    from sentence_transformers import SentenceTransformer

    path = Path(path)
    tok, tok_kwargs = _build_tokenizer(arch)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MAX_SEQ_LENGTH, **tok_kwargs)
    shape = {
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
    }
    if arch == "bert":
        config = BertConfig(**shape, max_position_embeddings=MAX_SEQ_LENGTH, pad_token_id=tok.token_to_id("[PAD]"))
        model_cls = BertModel
    else:
        pad_id = tok.token_to_id("<pad>")
        config = XLMRobertaConfig(
            **shape,
            max_position_embeddings=MAX_SEQ_LENGTH + pad_id + 1,
            type_vocab_size=1,
            pad_token_id=pad_id,
            bos_token_id=tok.token_to_id("<s>"),
            eos_token_id=tok.token_to_id("</s>"),
        )
        model_cls = XLMRobertaModel
    torch.manual_seed(1234)
    model = model_cls(config).eval()
    with torch.no_grad():  # random init is small; widen it so layers and positions matter
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(5.0)

    with tempfile.TemporaryDirectory() as hf_dir:
        model.save_pretrained(hf_dir)
        fast.save_pretrained(hf_dir)
        transformer = Transformer(hf_dir, max_seq_length=MAX_SEQ_LENGTH)
        st = SentenceTransformer(
            modules=[transformer, Pooling(HIDDEN, "mean"), Normalize()],
            prompts=dict(PROMPTS),
            device="cpu",
        )
        st.save(str(path))
    return path
