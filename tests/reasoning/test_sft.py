"""SFT: prompt masking (loss only on answer tokens), left padding, a tiny run that learns."""

import torch

from radkit.reasoning import prompts
from radkit.reasoning.sft import IGNORE, collate, encode_sample, task_sampler
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
    batch[1]["input_ids"], batch[1]["labels"] = batch[1]["input_ids"][3:], batch[1]["labels"][3:]
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
    with torch.no_grad():
        loss = model(**b).loss
        logits = model(**{k: v for k, v in b.items() if k != "labels"}).logits
    lab = b["labels"][0, 1:]
    keep = lab != IGNORE
    ref = torch.nn.functional.cross_entropy(logits[0, :-1][keep].float(), lab[keep])
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=1e-5)


def test_few_steps_reduce_loss(tiny_model_dir, vqa_dir):
    model, proc = load_model(tiny_model_dir)
    recs = read_jsonl(vqa_dir / "vqa.jsonl")[:4]
    b = collate([encode_sample(r, proc, 56) for r in recs], proc.tokenizer.pad_token_id)
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
