"""Tiny random Qwen2-VL models with an offline-trained tokenizer, and local-path model loading.

The tiny model has the real architecture (vision tower, merger, M-RoPE language model),
so SFT, GRPO and generation exercise the same code paths as Qwen2-VL-7B, in seconds on
a CPU. Nothing is downloaded: the byte-level BPE tokenizer is trained on the texts given
(synthetic reports and VQA prompts), and weights are random.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|image_pad|>", "<|video_pad|>"]

# Qwen2-VL chat layout (default system prompt, one vision block per image), written as
# our own minimal Jinja template. Content is a string or a list of {"type": "image"|"text"}.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if loop.first and m['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 800):
    """Byte-level BPE tokenizer (Qwen-style special tokens) trained on ``texts``; no download.

    Returns:
        A `transformers.PreTrainedTokenizerFast` with the chat template set, pad = <|endoftext|>,
        left padding (§4.3).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   padding_side="left")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def default_corpus() -> list[str]:
    """Texts the tiny tokenizer is trained on: prompts, labels, miner vocabulary (no patient text)."""
    from radkit.reasoning import prompts
    from radkit.reasoning.labels import LABELS, PROGRESSIONS, SINGLE_LABELS
    from radkit.reasoning.mining import SIGNS
    from radkit.reports.anatomy import FINDINGS, list_anatomies

    texts = [prompts.THINK_SUFFIX, prompts.SINGLE_Q, prompts.MULTI_Q, prompts.TEMPORAL_Q, prompts.BINARY_Q,
             "<think> </think><answer> A </answer> B C D Yes No Options: In conclusion, the final answer is",
             "From the images we observe consistent with so there is no evidence of Next, Comparing the new image"]
    texts += [" ".join(SINGLE_LABELS), " ".join(PROGRESSIONS), " ".join(LABELS)]
    texts += [f"{a} {b}" for a, b in SIGNS.values()]
    texts += [" ".join((f.name,) + f.synonyms + f.severities) for f in FINDINGS.values()]
    texts += [" ".join(list_anatomies("cxr")), " ".join(list_anatomies("ct"))]
    return texts * 4


def build_tiny(out_dir: str | os.PathLike, texts: Iterable[str] | None = None, seed: int = 0,
               family: str = "qwen2_vl", hidden: int = 64, layers: int = 2, vocab_size: int = 800,
               image_size: int = 56, vision_dim: int = 32, vision_depth: int = 1) -> Path:
    """Build and save a tiny random Qwen2-VL (or Qwen2.5-VL) model + processor as a local folder.

    Args:
        out_dir: folder to write (model config + safetensors + processor).
        texts: tokenizer training texts (default: `default_corpus`; add reports for realism).
        family: "qwen2_vl" or "qwen2_5_vl".
        hidden, layers: language-model width and depth (heads of 16 dims).
        image_size: images are resized to about ``image_size``² pixels (56 -> 4 visual tokens).
        vision_dim, vision_depth: width and depth of the vision tower.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ValueError: unknown family.
    """
    import torch
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    if family not in ("qwen2_vl", "qwen2_5_vl"):
        raise ValueError(f"unknown tiny model family {family!r}; valid: qwen2_vl, qwen2_5_vl")
    torch.manual_seed(seed)
    tok = train_tokenizer(list(texts or []) + default_corpus(), vocab_size)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL}
    heads = hidden // 16
    text = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=4096,
                # M-RoPE: temporal/height/width sections sum to head_dim / 2 = 8
                rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e4},
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    common = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if family == "qwen2_vl":
        from transformers import Qwen2VLConfig as Cfg
        from transformers import Qwen2VLForConditionalGeneration as Model
        vision = dict(depth=vision_depth, embed_dim=vision_dim, hidden_size=hidden, num_heads=2, mlp_ratio=2,
                      patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2)
    else:
        from transformers import Qwen2_5_VLConfig as Cfg
        from transformers import Qwen2_5_VLForConditionalGeneration as Model
        vision = dict(depth=vision_depth, hidden_size=vision_dim, out_hidden_size=hidden, num_heads=2,
                      intermediate_size=2 * vision_dim, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                      fullatt_block_indexes=[0],
                      window_size=56)
    cfg = Cfg(text_config=text, vision_config=vision, tie_word_embeddings=True, **common)
    model = Model(cfg)
    px = image_size * image_size
    image_proc = Qwen2VLImageProcessor(min_pixels=px, max_pixels=px, patch_size=14, merge_size=2,
                                       temporal_patch_size=2)
    proc = Qwen2VLProcessor(image_processor=image_proc, tokenizer=tok, video_processor=Qwen2VLVideoProcessor(),
                            chat_template=CHAT_TEMPLATE)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def load_model(path: str | os.PathLike, dtype: str = "float32", allow_hub: bool = False):
    """Load a Qwen2-VL-family model and its processor from a local folder.

    Args:
        path: local folder (tiny model, Qwen2-VL-7B-Instruct, ChestX-Reasoner, Qwen2.5/3-VL).
        dtype: "float32", "bfloat16" or "float16".
        allow_hub: let a non-folder ``path`` be a hub id (only when the user names one).

    Returns:
        (model, processor); the tokenizer pads on the left (generation and §4.3 collation).

    Raises:
        FileNotFoundError: ``path`` is not a folder and ``allow_hub`` is False.
        ValueError: unknown dtype.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in dtypes:
        raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(dtypes)}")
    local = Path(path).is_dir()
    if not local and not allow_hub:
        raise FileNotFoundError(f"model folder {path} not found; pass a local folder (build one with "
                                "radkit.reasoning.tiny.build_tiny), or name a hub id with allow_hub=True")
    model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtypes[dtype], local_files_only=local)
    proc = AutoProcessor.from_pretrained(str(path), local_files_only=local)
    proc.tokenizer.padding_side = "left"
    return model, proc
