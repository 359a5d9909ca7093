"""SFT: prompt masking (loss only on answer tokens), left padding, a tiny run that learns."""

import torch

from radkit.reasoning import prompts
from radkit.reasoning.sft import IGNORE, SFTModule, collate, encode_sample, task_sampler, weighted_lm_loss
from radkit.reasoning.sft_train import train_sft
from radkit.reasoning.tiny import load_model
from radkit.reasoning.vqa import read_jsonl


def test_labels_cover_only_the_answer(tiny_model_dir, vqa_dir):
    model, proc = load_model(tiny_model_dir)
    rec = [r for r in read_jsonl(vqa_dir / "vqa.jsonl") if r["task"] == "single"][0]
    s = encode_sample(rec, proc, image_size=56)
    sup = s["labels"] != IGNORE
    target = prompts.target_text(rec["process"], rec["answer"]) + proc.tokenizer.eos_token
    assert proc.tokenizer.decode(s["input_ids"][sup]) == target
    # supervised tokens are exactly the suffix; no image token is supervised
    n = int(sup.sum())
    assert sup[-n:].all() and not sup[:-n].any()
    assert not (s["input_ids"][sup] == model.config.image_token_id).any()
    assert (s["input_ids"] == model.config.image_token_id).sum() > 0


def test_collate_left_pads(tiny_model_dir, vqa_dir):
    _, proc = load_model(tiny_model_dir)
    recs = read_jsonl(vqa_dir / "vqa.jsonl")[:2]
    batch = [encode_sample(r, proc, 56) for r in recs]
    for k in ("input_ids", "labels", "answer_mask"):
        batch[1][k] = batch[1][k][3:]
    out = collate(batch, pad_id=proc.tokenizer.pad_token_id)
    n = out["input_ids"].shape[1]
    for i, b in enumerate(batch):
        pad = n - len(b["input_ids"])
        assert out["attention_mask"][i, :pad].sum() == 0 and out["attention_mask"][i, pad:].all()
        assert (out["input_ids"][i, :pad] == proc.tokenizer.pad_token_id).all()
        assert torch.equal(out["input_ids"][i, pad:], b["input_ids"])
    assert (out["labels"][out["attention_mask"] == 0] == IGNORE).all()


def test_loss_on_answer_tokens_only(tiny_model_dir, vqa_dir):
    """The module's loss equals cross-entropy computed by hand over the target positions."""
    model, proc = load_model(tiny_model_dir)
    rec = read_jsonl(vqa_dir / "vqa.jsonl")[0]
    b = collate([encode_sample(rec, proc, 56)], proc.tokenizer.pad_token_id)
    b.pop("answer_mask")
    with torch.no_grad():
        loss = model(**b).loss
        logits = model(**{k: v for k, v in b.items() if k != "labels"}).logits
    lab = b["labels"][0, 1:]
    keep = lab != IGNORE
    ref = torch.nn.functional.cross_entropy(logits[0, :-1][keep].float(), lab[keep])
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=1e-5)


def test_answer_mask_marks_the_answer_span(tiny_model_dir, vqa_dir):
    _, proc = load_model(tiny_model_dir)
    rec = [r for r in read_jsonl(vqa_dir / "vqa.jsonl") if r["task"] == "binary"][0]
    s = encode_sample(rec, proc, 56)
    text = proc.tokenizer.decode(s["input_ids"][s["answer_mask"]])
    span = f"<answer> {rec['answer']} </answer>"
    # a BPE token may straddle "</think>" and "<answer>" (e.g. "><"); it counts as an answer token
    assert text.strip().endswith(span) and len(text.strip()) <= len(span) + 2
    assert not (s["answer_mask"] & (s["labels"] == IGNORE)).any()


def test_answer_weighted_loss_by_hand(tiny_model_dir, vqa_dir):
    """Weighted loss = sum(w * CE) / sum(w), CE from log-softmax by hand, w = 5 on answer tokens, 1 elsewhere."""
    model, proc = load_model(tiny_model_dir)
    recs = read_jsonl(vqa_dir / "vqa.jsonl")[:2]
    b = collate([encode_sample(r, proc, 56) for r in recs], proc.tokenizer.pad_token_id)
    amask, labels = b.pop("answer_mask"), b.pop("labels")
    with torch.no_grad():
        logits = model(**b).logits
    num = den = 0.0
    for i in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            y = int(labels[i, t + 1])
            if y == IGNORE:
                continue
            ce = -torch.log_softmax(logits[i, t].double(), -1)[y].item()
            w = 5.0 if amask[i, t + 1] else 1.0
            num, den = num + w * ce, den + w
    got = weighted_lm_loss(logits, labels, amask, 5.0)
    assert abs(got.item() - num / den) < 1e-4
    # weight 1 is the model's own mean CE; weight 5 differs from it
    with torch.no_grad():
        plain = model(**b, labels=labels).loss
    torch.testing.assert_close(weighted_lm_loss(logits, labels, amask, 1.0), plain, atol=1e-5, rtol=1e-5)
    assert abs(got.item() - plain.item()) > 1e-4
    # the Lightning module uses it
    module = SFTModule(model, answer_loss_weight=5.0)
    module.log = lambda *a, **k: None
    with torch.no_grad():
        step = module.training_step({**b, "labels": labels, "answer_mask": amask}, 0)
    torch.testing.assert_close(step, got, atol=1e-5, rtol=1e-5)


def test_few_steps_reduce_loss(tiny_model_dir, vqa_dir):
    model, proc = load_model(tiny_model_dir)
    recs = read_jsonl(vqa_dir / "vqa.jsonl")[:4]
    b = collate([encode_sample(r, proc, 56) for r in recs], proc.tokenizer.pad_token_id)
    b.pop("answer_mask")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(4):
        loss = model(**b).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_train_sft_two_steps_changes_params(tiny_model_dir, vqa_dir, tmp_path):
    before, _ = load_model(tiny_model_dir)
    out = train_sft(str(tiny_model_dir), str(vqa_dir / "vqa.jsonl"), str(tmp_path / "sft"), lr=1e-3, epochs=1,
                    batch_size=2, global_batch=2, max_steps=2, precision="32-true", gradient_checkpointing=True,
                    image_size=56, accelerator="cpu", devices=1, warmup_ratio=0.0,
                    task_weights={"binary_option": 1.0, "single_option": 1.0})
    after, _ = load_model(out)
    changed = [n for (n, a), (_, b) in zip(before.named_parameters(), after.named_parameters()) if not torch.equal(a, b)]
    assert changed


def test_train_sft_lora(tiny_model_dir, vqa_dir, tmp_path):
    out = train_sft(str(tiny_model_dir), str(vqa_dir / "vqa.jsonl"), str(tmp_path / "lora"), lr=1e-2, epochs=1,
                    batch_size=2, global_batch=2, max_steps=1, precision="32-true", gradient_checkpointing=False,
                    lora=True, image_size=56, accelerator="cpu", devices=1)
    model, _ = load_model(out)  # merged: loads as a plain model
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_task_sampler_weights(vqa_dir):
    recs = read_jsonl(vqa_dir / "vqa.jsonl")
    s = task_sampler(recs, {"binary_option": 1.0}, seed=0)
    picked = {f"{recs[i]['task']}_{recs[i]['variant']}" for i in s}
    assert picked == {"binary_option"}
